"""Engagement records: support tickets, consultations, careers, bookings, leads,
webinars, favorites, suggestions, personalizations -- one subpackage each -- and the
public intake (``intake/``) through which website visitors create some of them."""
