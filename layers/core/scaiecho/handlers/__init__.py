"""Non-HTTP Lambda entry points (authorizer, Step Functions tasks): parse → one use case → shape."""
