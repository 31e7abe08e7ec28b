"""Two-factor sign-in: TOTP codes and single-use recovery codes."""
