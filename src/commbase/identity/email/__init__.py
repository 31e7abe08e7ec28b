"""Account email: templates and the mailer effect that sends them after commit."""
