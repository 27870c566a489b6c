"""POST|DELETE /users/me/voice-profile and GET /users/me/voice-profile/status."""

from mangum import Mangum

from scaiecho.api.app import create_app
from scaiecho.api.routes import voice_profiles

lambda_handler = Mangum(create_app([voice_profiles.router]), lifespan="off")
