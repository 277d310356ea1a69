from django import forms


class StrictFilterForm(forms.Form):
    """A filter form where a parameter given with an empty value is an error, not "no filter"."""

    def clean(self):
        cleaned = super().clean()
        for name in self.fields:
            if name in self.data and self.data.get(name) == "":
                self.add_error(name, "May not be empty; leave the parameter out instead.")
        return cleaned
