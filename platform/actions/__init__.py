"""Service functions: the logic behind every API call, CLI verb and task.

Views and tasks stay thin and call these. Each change runs in one transaction
and records an Event in it, so a failure leaves nothing half-written.
"""
