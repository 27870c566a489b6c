"""AWS adapters: DynamoDB (pynamodb), S3, Step Functions, SageMaker runtime.

Every SDK failure is wrapped once here (StorageError / NodeError) so the services see domain errors.
"""
