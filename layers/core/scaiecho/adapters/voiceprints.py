"""Voiceprints are biometric data: sealed with KMS, bound to tenant + speaker by the
encryption context, so a ciphertext copied to another tenant's row cannot be opened."""

from __future__ import annotations

from typing import Any

import numpy as np
from botocore.exceptions import BotoCoreError, ClientError

from scaiecho.adapters.aws import client
from scaiecho.errors import StorageError
from scaiecho.settings import get_settings


class VoiceprintCipher:
    def __init__(self, kms: Any | None = None, key_id: str | None = None) -> None:
        self._kms = kms
        self._key_id = key_id

    @property
    def kms(self) -> Any:
        if self._kms is None:
            self._kms = client("kms")
        return self._kms

    @property
    def key_id(self) -> str:
        key = self._key_id or get_settings().kms_key_id
        if not key:
            raise StorageError("no KMS key is configured for voiceprints (SCAIECHO_KMS_KEY_ID)")
        return key

    def seal(self, vector: list[float], *, tenant_id: str, subject_id: str) -> bytes:
        plaintext = np.asarray(vector, dtype="<f4").tobytes()
        try:
            resp = self.kms.encrypt(
                KeyId=self.key_id, Plaintext=plaintext,
                EncryptionContext={"tenant_id": tenant_id, "subject_id": subject_id},
            )
        except (ClientError, BotoCoreError) as exc:
            raise StorageError("could not seal the voiceprint") from exc
        blob: bytes = resp["CiphertextBlob"]
        return blob

    def open(self, blob: bytes, *, tenant_id: str, subject_id: str) -> list[float]:
        try:
            resp = self.kms.decrypt(
                CiphertextBlob=blob,
                EncryptionContext={"tenant_id": tenant_id, "subject_id": subject_id},
            )
        except (ClientError, BotoCoreError) as exc:
            raise StorageError("could not open the voiceprint") from exc
        vector: list[float] = np.frombuffer(resp["Plaintext"], dtype="<f4").astype(float).tolist()
        return vector
