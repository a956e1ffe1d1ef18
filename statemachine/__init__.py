"""The Step Functions state machine that submits a task to AWS Batch and announces its end."""
