"""Court-ready complaint dossiers: data model, rendering, redaction, stills, signing."""
