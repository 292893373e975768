"""Config schema, composition, validation and the user-error type."""
