"""The web dashboards at ``/dashboard``: server-rendered pages over the ``/v1`` API."""
