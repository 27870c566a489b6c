"""POST|DELETE /users/me/voice-profile and GET /users/me/voice-profile/status."""

from scaiecho.api.lambda_entry import api_handler
from scaiecho.api.routes import voice_profiles

lambda_handler = api_handler(voice_profiles.router)
