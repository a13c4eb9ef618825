"""The model as written: templates, parameters, the model records, validation, schemas, the
time grid, profiles, the vocabulary of names."""
