"""Use cases, one module each; they check access (``access``) and audit (``audit``), routes stay thin.

``access`` (callers, every ``require_*`` rule), ``users`` (accounts, API keys), ``registry`` (teams, workers,
households, risk tiers), ``visits`` (visit requests, reports), ``plans`` (versions, publishing, checks, schedules,
outcomes), ``jobs`` (plan and re-plan jobs), ``loading`` (a problem file as a team), ``feeds`` and
``feedevents`` (calendar feeds), ``audit`` (the audit log).
"""
