"""LM judges as annotators: prompt templates, reply parsing, model backends and the service that
stores their labels as `Annotation`s by the judge's `Annotator`."""
