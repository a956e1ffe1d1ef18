"""The local stack: real software standing in for AWS on a machine without it.

moto server (S3, IAM, Batch, ECR API, EventBridge, SQS, CloudWatch Logs, Step Functions) in a
process of its own, a Docker engine that runs the Batch jobs, a registry for ECR's push side, and
a relay that hands each EventBridge event to the Chalice handler as Lambda would.
``eventbatch local up`` starts and provisions it; ``down`` stops what ``up`` started.
"""
