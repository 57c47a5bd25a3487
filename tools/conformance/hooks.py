"""Schemathesis hooks for `make conformance`: the document says an image is a PNG or JPEG file
(`format: image-base64` in JSON bodies, `image/png` parts in multipart ones). JSON Schema cannot
say "a decodable PNG", so these strategies generate real ones: small random RGB/grey PNGs,
written by pngs.py, so schema-valid requests reach the model."""
import base64

import schemathesis
from hypothesis import strategies as st

from pngs import png


PNGS = st.builds(
    png,
    width=st.integers(1, 48),
    height=st.integers(1, 48),
    colour=st.booleans(),
    pixels=st.binary(min_size=1, max_size=256),
)

schemathesis.openapi.media_type("image/png", PNGS)
schemathesis.openapi.format("image-base64", PNGS.map(lambda data: base64.b64encode(data).decode("ascii")))
