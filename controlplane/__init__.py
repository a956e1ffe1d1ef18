"""The control plane's tooling: the CloudFormation template, IAM policies, deploy and doctor.

Nothing here runs in a dispatcher for a task; ``executor/`` never imports this package.
"""
