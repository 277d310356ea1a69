"""A flow's typed ``parameters``: the inputs the flow takes when called as a tool."""

from typing import Any

from django.core.exceptions import ValidationError

from flows.models import validate_tool_name

PARAMETER_TYPES = ("string", "number", "integer", "boolean", "object", "array")


def clean_flow_parameters(parameters: Any) -> list[dict[str, Any]]:
    """``[{"name", "type", "description"?, "required"?}]`` with unique, valid names."""
    if not isinstance(parameters, list):
        raise ValidationError({"parameters": "Must be a list."})
    cleaned, names = [], set()
    for index, parameter in enumerate(parameters):
        where = f"parameters[{index}]"
        if not isinstance(parameter, dict):
            raise ValidationError({where: "Must be an object."})
        unknown = set(parameter) - {"name", "type", "description", "required"}
        if unknown:
            raise ValidationError({f"{where}.{sorted(unknown)[0]}": "Unknown field."})
        name = parameter.get("name")
        try:
            validate_tool_name(name if isinstance(name, str) else "")
        except ValidationError:
            raise ValidationError({f"{where}.name": "Must be an identifier."}) from None
        if name in names:
            raise ValidationError({f"{where}.name": f"'{name}' appears twice."})
        names.add(name)
        if parameter.get("type") not in PARAMETER_TYPES:
            raise ValidationError(
                {f"{where}.type": f"Must be one of {', '.join(PARAMETER_TYPES)}."}
            )
        description = parameter.get("description", "")
        if not isinstance(description, str):
            raise ValidationError({f"{where}.description": "Must be a string."})
        required = parameter.get("required", False)
        if not isinstance(required, bool):
            raise ValidationError({f"{where}.required": "Must be true or false."})
        cleaned.append(
            {
                "name": name,
                "type": parameter["type"],
                "description": description,
                "required": required,
            }
        )
    return cleaned
