"""Pure (no database, no Django) steps of webhook ingestion: verify, authenticate, parse, render."""
