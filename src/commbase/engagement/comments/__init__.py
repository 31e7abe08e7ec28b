"""Comments by members on calls and support tickets (seed 000 ``/api/comments``)."""
