"""External sign-in: Firebase and OIDC ID tokens verified against the provider's JWKS."""
