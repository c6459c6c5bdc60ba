#!/bin/sh
# POST one photo as a raw JPEG body (an image/* binary media type of the API) and print the JSON answer.
#   DOGS_API_URL=https://<api>.execute-api.<region>.amazonaws.com/beta/predict DOGS_API_KEY=... \
#     examples/predict_curl.sh photo.jpg
# Add ?format=original to the URL for the original project's answer: [[p0, ..., pN-1]].
set -eu
photo="${1:?usage: predict_curl.sh PHOTO.jpg}"
curl --silent --show-error --fail-with-body -X POST "${DOGS_API_URL:?set DOGS_API_URL}" \
  -H "x-api-key: ${DOGS_API_KEY:?set DOGS_API_KEY}" -H "Content-Type: image/jpeg" \
  --data-binary "@${photo}"
echo
