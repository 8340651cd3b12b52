"""Feedback kinds as plug-ins: one module per kind (pairwise, binary, edit, ranking), a typed base
(`base.FeedbackKindSpec`) and a registry (`registry.get(key)`) that the rest of Tandem asks instead
of branching on the kind. This package file imports nothing, so `annotate.models` can read the
shared scale (`annotate.kinds.scale`) without a cycle."""
