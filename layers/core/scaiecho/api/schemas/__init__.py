"""The API's typed contract: one pydantic model per response shape (and the request forms).

Responses are built from domain objects by each model's ``from_domain`` classmethod and served
with ``response_model_exclude_unset=True``: a field a model leaves unset is absent on the wire,
a field set to ``None`` is ``null`` (the shapes clients already know keep both)."""
