"""Public intake: website visitors create records with a publishable key, and follow
the one record they created with its access token.

The pieces (each record type reuses them; see ``engagement/support/intake_routes.py``):

- ``principal.Intake`` -- a FastAPI dependency giving the ``IntakePrincipal`` of a
  request sent with ``Authorization: Bearer cb_pub_...``. On every request it resolves
  the key (401 if unknown or revoked), counts the request against the visitor's IP
  (429 with ``RateLimit``/``RateLimit-Policy``/``Retry-After`` past the key's
  ``rate_limit_per_minute``) and checks the ``Origin`` header against the key's
  ``allowed_origins`` (403 ``origin-not-allowed`` when missing or another).
  ``principal.require(IntakeScope.X)`` refuses keys without that intake scope (403).
- ``schemas.IntakeForm`` -- base of every intake body; its ``website`` field is the
  honeypot. When ``form.is_bot``, answer ``schemas.decoy_receipt(...)`` (201, looks
  real) and store nothing.
- ``access.issue_access(session, principal=..., record_type="webinar_registration",
  record_id=row.id, secret=...)`` -- the visitor's ``cb_acc_`` token for that one record
  (HMAC stored in ``intake_access_tokens``); return it in a ``schemas.IntakeReceipt``.
  The receipt carries a secret: set ``response.headers.update(core.http.NO_STORE)``
  (decoys too), so an ``Idempotency-Key`` never stores the token (a replay is a 409).
- ``access.visitor_access(record_type, scope)`` -- a dependency factory: the publishable
  key checks above plus the ``X-Access-Token`` header, resolved to the one record id
  it opens (``VisitorAccess.record_id``); any other token is a 404. Visitor routes
  take no record id in the path: the token names the record, so no id can be guessed.
- ``access.forget_access(...)`` -- drop a record's tokens when the record is erased.

A publishable key or access token is refused (401) by every non-intake route, and a
lookup by email is a staff route (``engagement:read``), never an intake one.

Example (a webinar sign-up)::

    @router.post("/webinars/registrations", response_model=IntakeReceipt, status_code=201)
    async def register(body: RegistrationForm, intake: Intake, session: DbSession,
                       settings: AppSettings, response: Response) -> IntakeReceipt:
        intake.require(IntakeScope.WEBINARS)
        response.headers.update(NO_STORE)
        if body.is_bot:
            return decoy_receipt(object_="webinar_registration", id_prefix="wreg",
                                 status="registered")
        row = await service.register(session, org_id=intake.org_id, data=body)
        token = await issue_access(session, principal=intake,
                                   record_type="webinar_registration", record_id=row.id,
                                   secret=settings.secret_key.get_secret_value())
        return IntakeReceipt(id=row.id, object="webinar_registration",
                             status=row.status, access_token=token,
                             created_at=row.created_at)

    Registration = Annotated[VisitorAccess, Depends(
        visitor_access("webinar_registration", IntakeScope.WEBINARS))]

    @router.get("/webinars/registration", response_model=RegistrationPublic)
    async def mine(visit: Registration, session: DbSession) -> Any:
        return await service.get(session, org_id=visit.principal.org_id,
                                 registration_id=visit.record_id)

Mount intake routers under ``/v1/intake``. CORS there is answered from the publishable
keys' allowed origins (``cors.IntakeCorsMiddleware``): a preflight from an origin some
active key lists gets 204 naming it, and a response carries that origin once the
request's key accepted it; never ``*``, never with credentials.
"""
