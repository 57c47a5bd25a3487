/// The OpenAPI 3.1 description served at `/openapi.yaml`: the contract. `Docs/openapi.yaml` is
/// the same text (a test keeps them identical; `rada serve --print-openapi > Docs/openapi.yaml`
/// rewrites it), and `ContractTests` keep it and the route table from drifting apart.
enum OpenAPIDocument {
    static let yaml = #"""
    openapi: 3.1.0
    info:
      title: RAdaServe
      version: 0.3.0
      description: >
        CLIP zero-shot classification that adapts online per client stream (RAda mask).
        Every operation except /healthz, /readyz, /metrics, /openapi.yaml and the dashboard (/ui) needs
        "Authorization: Bearer KEY" when the server has API keys (401 otherwise, with
        WWW-Authenticate); a client sees only its own streams and checkpoints (another client's
        stream is a 404). Errors always have the shape {"error": {"code", "message"}}. Each operation
        lists every status it can return. Statuses of the connection rather than the operation: 408
        (request head not received within the header timeout), 414 (request line over the limit,
        default 8 KiB), 431 (headers over the limit, default 32 KiB) and 503 (new connection while
        the server's connection cap is reached and every connection is busy, with Retry-After); with
        API keys, 429 (the client already has its cap of requests in flight, with Retry-After). A
        method a path does not list is answered 405 with Allow. A request that is not valid HTTP/1.1
        is answered 400 before any operation is chosen. Request bodies are matched by exact media
        type (parameters allowed); a multipart body must be complete. Limits named below are the
        defaults; the server's flags change them.
        With the PostgreSQL store (several servers), any stream operation may also get 503 with
        code stream_moved (another server owns the stream; nothing was written) or
        store_unavailable (the database cannot be reached), both with Retry-After.
    servers:
      - url: http://127.0.0.1:8080
    security:
      - bearer: []
    paths:
      /healthz:
        get:
          operationId: health
          summary: Liveness
          security: []
          responses:
            "200": {description: Alive, content: {application/json: {schema: {$ref: "#/components/schemas/Status"}}}}
            "408": {$ref: "#/components/responses/RequestTimeout"}
            "414": {$ref: "#/components/responses/URITooLong"}
            "431": {$ref: "#/components/responses/HeadersTooLarge"}
            "503": {$ref: "#/components/responses/Unavailable"}
      /readyz:
        get:
          operationId: ready
          summary: Readiness (model loaded and warmed up)
          security: []
          responses:
            "200": {description: Ready, content: {application/json: {schema: {$ref: "#/components/schemas/Status"}}}}
            "408": {$ref: "#/components/responses/RequestTimeout"}
            "414": {$ref: "#/components/responses/URITooLong"}
            "431": {$ref: "#/components/responses/HeadersTooLarge"}
            "503": {description: "Warming up ({\"status\"}), or the connection cap (an error)", content: {application/json: {schema: {oneOf: [{$ref: "#/components/schemas/Status"}, {$ref: "#/components/schemas/Error"}]}}}}
      /metrics:
        get:
          operationId: metrics
          summary: Prometheus metrics
          security: []
          responses:
            "200": {description: Text exposition format, content: {text/plain: {schema: {type: string}}}}
            "408": {$ref: "#/components/responses/RequestTimeout"}
            "414": {$ref: "#/components/responses/URITooLong"}
            "431": {$ref: "#/components/responses/HeadersTooLarge"}
            "503": {$ref: "#/components/responses/Unavailable"}
      /openapi.yaml:
        get:
          operationId: openAPIDocument
          summary: This document
          security: []
          responses:
            "200": {description: OpenAPI 3.1, content: {application/yaml: {schema: {type: string}}}}
            "408": {$ref: "#/components/responses/RequestTimeout"}
            "414": {$ref: "#/components/responses/URITooLong"}
            "431": {$ref: "#/components/responses/HeadersTooLarge"}
            "503": {$ref: "#/components/responses/Unavailable"}
      /ui:
        get:
          operationId: dashboard
          summary: "The dashboard page: it asks for the key, then lists the key's streams and charts their history"
          security: []
          responses:
            "200": {description: The asset (with a strict Content-Security-Policy), content: {text/html: {schema: {type: string}}}}
            "408": {$ref: "#/components/responses/RequestTimeout"}
            "414": {$ref: "#/components/responses/URITooLong"}
            "431": {$ref: "#/components/responses/HeadersTooLarge"}
            "503": {$ref: "#/components/responses/Unavailable"}
      /ui/app.js:
        get:
          operationId: dashboardScript
          summary: The dashboard's script
          security: []
          responses:
            "200": {description: The asset (with a strict Content-Security-Policy), content: {text/javascript: {schema: {type: string}}}}
            "408": {$ref: "#/components/responses/RequestTimeout"}
            "414": {$ref: "#/components/responses/URITooLong"}
            "431": {$ref: "#/components/responses/HeadersTooLarge"}
            "503": {$ref: "#/components/responses/Unavailable"}
      /ui/app.css:
        get:
          operationId: dashboardStyle
          summary: The dashboard's style sheet
          security: []
          responses:
            "200": {description: The asset (with a strict Content-Security-Policy), content: {text/css: {schema: {type: string}}}}
            "408": {$ref: "#/components/responses/RequestTimeout"}
            "414": {$ref: "#/components/responses/URITooLong"}
            "431": {$ref: "#/components/responses/HeadersTooLarge"}
            "503": {$ref: "#/components/responses/Unavailable"}
      /v1/streams:
        post:
          operationId: createStream
          summary: Create a stream
          description: >
            400 for a body that is not JSON of this shape; 409 when the id exists for this client,
            or (code quota_exceeded) when the client has --max-streams-per-client streams stored
            (default 1000, counted across every server sharing the store); 413 for more labels than the limit (1000) or more prompts per label than the limit (64);
            422 for duplicate labels or invalid hyperparameters.
          requestBody:
            required: true
            content: {application/json: {schema: {$ref: "#/components/schemas/CreateStream"}}}
          responses:
            "201":
              description: Created
              content: {application/json: {schema: {$ref: "#/components/schemas/Stream"}}}
              links:
                getStream: {operationId: getStream, parameters: {id: "$response.body#/id"}}
                classify: {operationId: classify, parameters: {id: "$response.body#/id"}}
                resetStream: {operationId: resetStream, parameters: {id: "$response.body#/id"}}
                createCheckpoint: {operationId: createCheckpoint, parameters: {id: "$response.body#/id"}}
                listCheckpoints: {operationId: listCheckpoints, parameters: {id: "$response.body#/id"}}
                uploadCheckpoint: {operationId: uploadCheckpoint, parameters: {id: "$response.body#/id"}}
                deleteStream: {operationId: deleteStream, parameters: {id: "$response.body#/id"}}
            "400": {$ref: "#/components/responses/BadRequest"}
            "401": {$ref: "#/components/responses/Unauthorized"}
            "408": {$ref: "#/components/responses/RequestTimeout"}
            "409": {$ref: "#/components/responses/Conflict"}
            "413": {$ref: "#/components/responses/TooLarge"}
            "414": {$ref: "#/components/responses/URITooLong"}
            "415": {$ref: "#/components/responses/UnsupportedMediaType"}
            "422": {$ref: "#/components/responses/Unprocessable"}
            "429": {$ref: "#/components/responses/TooManyRequests"}
            "431": {$ref: "#/components/responses/HeadersTooLarge"}
            "503": {$ref: "#/components/responses/Unavailable"}
            "507": {$ref: "#/components/responses/InsufficientStorage"}
        get:
          operationId: listStreams
          summary: The caller's streams
          responses:
            "200":
              description: Streams
              content:
                application/json:
                  schema:
                    type: object
                    required: [streams]
                    properties:
                      streams:
                        type: array
                        items:
                          type: object
                          required: [id, labels, createdAt]
                          properties: {id: {$ref: "#/components/schemas/Name"}, labels: {type: integer, minimum: 1}, createdAt: {type: string, format: date-time}}
            "401": {$ref: "#/components/responses/Unauthorized"}
            "408": {$ref: "#/components/responses/RequestTimeout"}
            "414": {$ref: "#/components/responses/URITooLong"}
            "429": {$ref: "#/components/responses/TooManyRequests"}
            "431": {$ref: "#/components/responses/HeadersTooLarge"}
            "503": {$ref: "#/components/responses/Unavailable"}
      /v1/streams/{id}:
        parameters: [{$ref: "#/components/parameters/StreamID"}]
        get:
          operationId: getStream
          summary: A stream's state
          responses:
            "200": {description: The stream, content: {application/json: {schema: {$ref: "#/components/schemas/Stream"}}}}
            "400": {$ref: "#/components/responses/BadRequest"}
            "401": {$ref: "#/components/responses/Unauthorized"}
            "404": {$ref: "#/components/responses/NotFound"}
            "408": {$ref: "#/components/responses/RequestTimeout"}
            "414": {$ref: "#/components/responses/URITooLong"}
            "429": {$ref: "#/components/responses/TooManyRequests"}
            "431": {$ref: "#/components/responses/HeadersTooLarge"}
            "503": {$ref: "#/components/responses/Unavailable"}
        delete:
          operationId: deleteStream
          summary: Delete a stream and its checkpoints (also a quarantined one)
          responses:
            "204": {description: Deleted}
            "400": {$ref: "#/components/responses/BadRequest"}
            "401": {$ref: "#/components/responses/Unauthorized"}
            "404": {$ref: "#/components/responses/NotFound"}
            "408": {$ref: "#/components/responses/RequestTimeout"}
            "414": {$ref: "#/components/responses/URITooLong"}
            "429": {$ref: "#/components/responses/TooManyRequests"}
            "431": {$ref: "#/components/responses/HeadersTooLarge"}
            "503": {$ref: "#/components/responses/Unavailable"}
      /v1/streams/{id}/classify:
        parameters:
          - {$ref: "#/components/parameters/StreamID"}
          - {name: adapt, in: query, schema: {type: boolean, default: true}, description: "false: predict (and update running statistics) without an optimiser step"}
          - {$ref: "#/components/parameters/Top"}
          - {$ref: "#/components/parameters/IdempotencyKey"}
        post:
          operationId: classify
          summary: Classify a batch of images, then adapt per the stream's hyperparameters
          description: >
            Requests on one stream apply one at a time in arrival order. A bad image anywhere in the
            batch rejects the whole request and leaves the stream untouched (422, naming its index).
            The request is durable (journaled and fsynced) before the response is sent; under
            predictThenAdapt (the default) the response is sent once the request is predicted and
            its optimiser steps run after it, before the stream's next request. At most 64 images
            per request, 16 megapixels per image and 64 megapixels per request, all checked from
            the files' headers before anything is decoded (413); a body over 32 MiB is a 413. 429
            when the backbone queue is full; 503 with Retry-After when the server's image-decoding
            memory stays busy, or (code stream_quarantined) when the stream's stored state cannot
            be loaded.
          requestBody:
            required: true
            content:
              multipart/form-data:
                schema:
                  type: object
                  description: >
                    Every part is one PNG or JPEG file, whatever its name; 1 to 64 parts. This
                    schema names the one-part form.
                  required: [image]
                  properties:
                    image: {type: string, format: binary}
                  additionalProperties: false
                encoding:
                  image: {contentType: "image/png, image/jpeg"}
              application/json:
                schema: {$ref: "#/components/schemas/Images"}
          responses:
            "200": {description: Predictions, content: {application/json: {schema: {$ref: "#/components/schemas/Classification"}}}}
            "400": {$ref: "#/components/responses/BadRequest"}
            "401": {$ref: "#/components/responses/Unauthorized"}
            "404": {$ref: "#/components/responses/NotFound"}
            "408": {$ref: "#/components/responses/RequestTimeout"}
            "413": {$ref: "#/components/responses/TooLarge"}
            "414": {$ref: "#/components/responses/URITooLong"}
            "415": {$ref: "#/components/responses/UnsupportedMediaType"}
            "422": {$ref: "#/components/responses/Unprocessable"}
            "429": {$ref: "#/components/responses/TooManyRequests"}
            "431": {$ref: "#/components/responses/HeadersTooLarge"}
            "503": {$ref: "#/components/responses/Unavailable"}
            "507": {$ref: "#/components/responses/InsufficientStorage"}
      /v1/streams/{id}/history:
        parameters:
          - {$ref: "#/components/parameters/StreamID"}
          - {name: since, in: query, schema: {type: integer, minimum: 0, maximum: 9223372036854775807, default: 0}, description: "Only entries whose seq is above this (the latest seq a poller has seen)"}
          - {name: limit, in: query, schema: {type: integer, minimum: 1, maximum: 1000, default: 1000}, description: "At most this many entries, oldest first"}
        get:
          operationId: streamHistory
          summary: The stream's recent requests and events
          description: >
            A ring of entries kept with the stream's state (it survives restarts and eviction):
            one per request (images, mean entropy, mean top-1 probability, predicted classes,
            optimiser steps taken or skipped and why, automatic reset) and one per reset,
            restore and checkpoint save. It holds at most 65536 bytes of entries (its stored
            JSON; about 300 requests of 8 images on a 10-class stream), dropping the oldest. A
            reset clears it and leaves one entry, the reset itself; seq keeps increasing across
            resets.
          responses:
            "200": {description: Entries after since, content: {application/json: {schema: {$ref: "#/components/schemas/History"}}}}
            "400": {$ref: "#/components/responses/BadRequest"}
            "401": {$ref: "#/components/responses/Unauthorized"}
            "404": {$ref: "#/components/responses/NotFound"}
            "408": {$ref: "#/components/responses/RequestTimeout"}
            "414": {$ref: "#/components/responses/URITooLong"}
            "429": {$ref: "#/components/responses/TooManyRequests"}
            "431": {$ref: "#/components/responses/HeadersTooLarge"}
            "503": {$ref: "#/components/responses/Unavailable"}
      /v1/streams/{id}/reset:
        parameters: [{$ref: "#/components/parameters/StreamID"}]
        post:
          operationId: resetStream
          summary: Back to the base (zero-shot) state; counters cleared
          responses:
            "200": {description: The reset stream, content: {application/json: {schema: {$ref: "#/components/schemas/Stream"}}}}
            "400": {$ref: "#/components/responses/BadRequest"}
            "401": {$ref: "#/components/responses/Unauthorized"}
            "404": {$ref: "#/components/responses/NotFound"}
            "408": {$ref: "#/components/responses/RequestTimeout"}
            "414": {$ref: "#/components/responses/URITooLong"}
            "429": {$ref: "#/components/responses/TooManyRequests"}
            "431": {$ref: "#/components/responses/HeadersTooLarge"}
            "503": {$ref: "#/components/responses/Unavailable"}
            "507": {$ref: "#/components/responses/InsufficientStorage"}
      /v1/streams/{id}/checkpoints:
        parameters: [{$ref: "#/components/parameters/StreamID"}]
        post:
          operationId: createCheckpoint
          summary: Save the stream's current state as a named checkpoint
          description: >
            409 when the name exists on this stream, or (code quota_exceeded) when the stream
            holds --max-checkpoints-per-stream checkpoints (default 64).
          requestBody:
            required: true
            content: {application/json: {schema: {type: object, additionalProperties: false, required: [name], properties: {name: {$ref: "#/components/schemas/Name"}}}}}
          responses:
            "201":
              description: Saved
              content: {application/json: {schema: {$ref: "#/components/schemas/Checkpoint"}}}
              links:
                downloadCheckpoint: {operationId: downloadCheckpoint, parameters: {id: "$request.path.id", name: "$response.body#/name"}}
                restoreCheckpoint: {operationId: restoreCheckpoint, parameters: {id: "$request.path.id", name: "$response.body#/name"}}
                deleteCheckpoint: {operationId: deleteCheckpoint, parameters: {id: "$request.path.id", name: "$response.body#/name"}}
            "400": {$ref: "#/components/responses/BadRequest"}
            "401": {$ref: "#/components/responses/Unauthorized"}
            "404": {$ref: "#/components/responses/NotFound"}
            "408": {$ref: "#/components/responses/RequestTimeout"}
            "409": {$ref: "#/components/responses/Conflict"}
            "413": {$ref: "#/components/responses/TooLarge"}
            "414": {$ref: "#/components/responses/URITooLong"}
            "415": {$ref: "#/components/responses/UnsupportedMediaType"}
            "429": {$ref: "#/components/responses/TooManyRequests"}
            "431": {$ref: "#/components/responses/HeadersTooLarge"}
            "503": {$ref: "#/components/responses/Unavailable"}
            "507": {$ref: "#/components/responses/InsufficientStorage"}
        get:
          operationId: listCheckpoints
          summary: The stream's checkpoints
          responses:
            "200":
              description: Checkpoints
              content:
                application/json:
                  schema: {type: object, required: [checkpoints], properties: {checkpoints: {type: array, items: {$ref: "#/components/schemas/Checkpoint"}}}}
            "400": {$ref: "#/components/responses/BadRequest"}
            "401": {$ref: "#/components/responses/Unauthorized"}
            "404": {$ref: "#/components/responses/NotFound"}
            "408": {$ref: "#/components/responses/RequestTimeout"}
            "414": {$ref: "#/components/responses/URITooLong"}
            "429": {$ref: "#/components/responses/TooManyRequests"}
            "431": {$ref: "#/components/responses/HeadersTooLarge"}
            "503": {$ref: "#/components/responses/Unavailable"}
      /v1/streams/{id}/checkpoints/{name}:
        parameters: [{$ref: "#/components/parameters/StreamID"}, {$ref: "#/components/parameters/CheckpointName"}]
        get:
          operationId: downloadCheckpoint
          summary: Download the checkpoint file (safetensors)
          responses:
            "200":
              description: The file
              content: {application/octet-stream: {schema: {type: string, format: binary}}}
              links:
                uploadCheckpoint: {operationId: uploadCheckpoint, parameters: {id: "$request.path.id"}, requestBody: "$response.body"}
            "400": {$ref: "#/components/responses/BadRequest"}
            "401": {$ref: "#/components/responses/Unauthorized"}
            "404": {$ref: "#/components/responses/NotFound"}
            "408": {$ref: "#/components/responses/RequestTimeout"}
            "414": {$ref: "#/components/responses/URITooLong"}
            "429": {$ref: "#/components/responses/TooManyRequests"}
            "431": {$ref: "#/components/responses/HeadersTooLarge"}
            "503": {$ref: "#/components/responses/Unavailable"}
        put:
          operationId: uploadCheckpoint
          summary: Upload a checkpoint file (from this or another server) under a name
          description: >
            Key, stream, name and size are checked before the body is read (413 above the smaller of
            --max-checkpoint-mb, default 128, and the largest checkpoint this stream can produce).
            The file must be a valid stream checkpoint inside the documented bounds (422) and fit
            the stream: same dimension, heads, labels, class embeddings, logit scale and hyperparameters
            (409). 409 also when the name exists on this stream, and (code quota_exceeded, before
            the body is read) when the stream holds --max-checkpoints-per-stream checkpoints.
          requestBody:
            required: true
            content: {application/octet-stream: {schema: {type: string, format: binary}}}
          responses:
            "201": {description: Stored, content: {application/json: {schema: {$ref: "#/components/schemas/Checkpoint"}}}}
            "400": {$ref: "#/components/responses/BadRequest"}
            "401": {$ref: "#/components/responses/Unauthorized"}
            "404": {$ref: "#/components/responses/NotFound"}
            "408": {$ref: "#/components/responses/RequestTimeout"}
            "409": {$ref: "#/components/responses/Conflict"}
            "413": {$ref: "#/components/responses/TooLarge"}
            "414": {$ref: "#/components/responses/URITooLong"}
            "415": {$ref: "#/components/responses/UnsupportedMediaType"}
            "422": {$ref: "#/components/responses/Unprocessable"}
            "429": {$ref: "#/components/responses/TooManyRequests"}
            "431": {$ref: "#/components/responses/HeadersTooLarge"}
            "503": {$ref: "#/components/responses/Unavailable"}
            "507": {$ref: "#/components/responses/InsufficientStorage"}
        delete:
          operationId: deleteCheckpoint
          summary: Delete a checkpoint
          responses:
            "204": {description: Deleted}
            "400": {$ref: "#/components/responses/BadRequest"}
            "401": {$ref: "#/components/responses/Unauthorized"}
            "404": {$ref: "#/components/responses/NotFound"}
            "408": {$ref: "#/components/responses/RequestTimeout"}
            "414": {$ref: "#/components/responses/URITooLong"}
            "429": {$ref: "#/components/responses/TooManyRequests"}
            "431": {$ref: "#/components/responses/HeadersTooLarge"}
            "503": {$ref: "#/components/responses/Unavailable"}
      /v1/streams/{id}/checkpoints/{name}/restore:
        parameters: [{$ref: "#/components/parameters/StreamID"}, {$ref: "#/components/parameters/CheckpointName"}]
        post:
          operationId: restoreCheckpoint
          summary: Bring back the checkpoint's adaptation (mask, optimiser, counters, statistics)
          description: >
            The stream keeps its own class embeddings, hyperparameters and seed, so a reset afterwards is its
            own zero-shot. 409 when the stored file does not fit the stream, 422 when it cannot be
            read.
          responses:
            "200": {description: The restored stream, content: {application/json: {schema: {$ref: "#/components/schemas/Stream"}}}}
            "400": {$ref: "#/components/responses/BadRequest"}
            "401": {$ref: "#/components/responses/Unauthorized"}
            "404": {$ref: "#/components/responses/NotFound"}
            "408": {$ref: "#/components/responses/RequestTimeout"}
            "409": {$ref: "#/components/responses/Conflict"}
            "414": {$ref: "#/components/responses/URITooLong"}
            "422": {$ref: "#/components/responses/Unprocessable"}
            "429": {$ref: "#/components/responses/TooManyRequests"}
            "431": {$ref: "#/components/responses/HeadersTooLarge"}
            "503": {$ref: "#/components/responses/Unavailable"}
            "507": {$ref: "#/components/responses/InsufficientStorage"}
      /v1/classify:
        parameters: [{$ref: "#/components/parameters/Top"}]
        post:
          operationId: classifyStateless
          summary: Stateless zero-shot classification
          description: >
            The class set is given as for a stream (labels and/or prompts, optional templates).
            Same image limits as a stream's classify: 413 from the files' headers before anything
            is decoded, 422 for an image that is not a decodable PNG or JPEG, 429 when the backbone
            queue is full, 503 with Retry-After when the server's image-decoding memory stays busy.
          requestBody:
            required: true
            content:
              application/json:
                schema: {$ref: "#/components/schemas/StatelessClassify"}
          responses:
            "200": {description: Predictions, content: {application/json: {schema: {$ref: "#/components/schemas/Classification"}}}}
            "400": {$ref: "#/components/responses/BadRequest"}
            "401": {$ref: "#/components/responses/Unauthorized"}
            "408": {$ref: "#/components/responses/RequestTimeout"}
            "413": {$ref: "#/components/responses/TooLarge"}
            "414": {$ref: "#/components/responses/URITooLong"}
            "415": {$ref: "#/components/responses/UnsupportedMediaType"}
            "422": {$ref: "#/components/responses/Unprocessable"}
            "429": {$ref: "#/components/responses/TooManyRequests"}
            "431": {$ref: "#/components/responses/HeadersTooLarge"}
            "503": {$ref: "#/components/responses/Unavailable"}
    components:
      securitySchemes:
        bearer: {type: http, scheme: bearer}
      parameters:
        StreamID: {name: id, in: path, required: true, schema: {$ref: "#/components/schemas/Name"}}
        CheckpointName: {name: name, in: path, required: true, schema: {$ref: "#/components/schemas/Name"}}
        Top: {name: top, in: query, description: "Labels per image in the answer", schema: {type: integer, minimum: 1, maximum: 100, default: 5}}
        IdempotencyKey:
          name: Idempotency-Key
          in: header
          required: false
          description: >
            Makes a retry safe: when it equals the key of the stream's latest request, that request
            is not applied again and its answer is sent again (same predictions, same step). Kept
            while that request is the stream's latest, through a crash or a takeover by another
            server; a graceful shutdown, an eviction, a reset, a restore or a checkpoint save forgets it. Send a new
            key per request and the same key when retrying one.
          schema: {type: string, minLength: 1, maxLength: 128, pattern: "^[!-~]+$"}
      headers:
        RetryAfter: {description: Seconds to wait before retrying, required: true, schema: {type: integer, minimum: 1}}
      responses:
        BadRequest: {description: "Malformed body or query, or an invalid id or name", content: {application/json: {schema: {$ref: "#/components/schemas/Error"}}}}
        Unauthorized:
          description: Missing or unknown bearer key
          headers: {WWW-Authenticate: {required: true, schema: {type: string, const: Bearer}}}
          content: {application/json: {schema: {$ref: "#/components/schemas/Error"}}}
        NotFound: {description: "No such stream (for this client) or checkpoint", content: {application/json: {schema: {$ref: "#/components/schemas/Error"}}}}
        RequestTimeout: {description: "The request head did not arrive in time; the connection is closed", content: {application/json: {schema: {$ref: "#/components/schemas/Error"}}}}
        Conflict: {description: "Exists already, does not fit the stream, or over a quota (code quota_exceeded)", content: {application/json: {schema: {$ref: "#/components/schemas/Error"}}}}
        TooLarge: {description: "Over a size or count limit", content: {application/json: {schema: {$ref: "#/components/schemas/Error"}}}}
        URITooLong: {description: "Request line over the limit; the connection is closed", content: {application/json: {schema: {$ref: "#/components/schemas/Error"}}}}
        UnsupportedMediaType: {description: "Body of a media type this operation does not take", content: {application/json: {schema: {$ref: "#/components/schemas/Error"}}}}
        Unprocessable: {description: "Well-formed but unusable (see the operation)", content: {application/json: {schema: {$ref: "#/components/schemas/Error"}}}}
        TooManyRequests:
          description: "The client's requests in flight, its share of request-body memory, or the backbone queue are at their cap"
          headers: {Retry-After: {$ref: "#/components/headers/RetryAfter"}}
          content: {application/json: {schema: {$ref: "#/components/schemas/Error"}}}
        HeadersTooLarge: {description: "Headers over the limit; the connection is closed", content: {application/json: {schema: {$ref: "#/components/schemas/Error"}}}}
        InsufficientStorage:
          description: >
            The server's storage has no room (code storage_full, with Retry-After): a full disk or
            database volume, or, for a new stream or checkpoint, the free space the server keeps
            for adaptation journals and snapshots. Nothing was stored or changed
          headers: {Retry-After: {description: Seconds to wait before retrying, schema: {type: integer, minimum: 1}}}
          content: {application/json: {schema: {$ref: "#/components/schemas/Error"}}}
        Unavailable:
          description: >
            A budget is busy right now (code unavailable, with Retry-After), or the stream is
            quarantined (code stream_quarantined, no Retry-After: only DELETE works on it)
          headers: {Retry-After: {description: Seconds to wait before retrying, schema: {type: integer, minimum: 1}}}
          content: {application/json: {schema: {$ref: "#/components/schemas/Error"}}}
      schemas:
        Name: {type: string, pattern: "^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,63}$", description: "1-64 of A-Z a-z 0-9 _ . -, not starting with a dot (checked after percent-decoding)"}
        Status: {type: object, required: [status], properties: {status: {type: string}}}
        Error:
          type: object
          required: [error]
          properties:
            error:
              type: object
              required: [code, message]
              properties:
                code: {type: string, enum: [bad_request, unauthorized, not_found, method_not_allowed, request_timeout, uri_too_long, conflict, too_large, unsupported_media_type, unprocessable, queue_full, quota_exceeded, headers_too_large, unavailable, stream_quarantined, stream_moved, store_unavailable, internal]}
                message: {type: string}
        Label: {type: string, minLength: 1, maxLength: 200, description: "A class name (1-200 Unicode scalars)"}
        Labels: {type: array, minItems: 1, maxItems: 1000, uniqueItems: true, items: {$ref: "#/components/schemas/Label"}, description: "Class names, in order (at most 1000)"}
        Prompts:
          type: object
          minProperties: 1
          maxProperties: 1000
          propertyNames: {$ref: "#/components/schemas/Label"}
          additionalProperties: {type: array, minItems: 1, maxItems: 64, items: {type: string, maxLength: 1000}}
          description: >
            Prompts per label (ensembled, at most 64 each). With labels, a label without an entry
            here is described by the templates; without labels, the classes are the sorted keys.
        Templates:
          type: array
          minItems: 1
          maxItems: 64
          items: {type: string, pattern: "\\{\\}", maxLength: 1000}
          description: "Templates with {} for the label (default: the model's prompt ensemble)"
        ImageList:
          type: array
          minItems: 1
          maxItems: 64
          items: {type: string, format: image-base64, contentEncoding: base64, contentMediaType: image/png}
          description: PNG or JPEG files, standard base64 (a data URL prefix and line breaks allowed)
        Images:
          type: object
          required: [images]
          properties:
            images: {$ref: "#/components/schemas/ImageList"}
        CreateStream:
          description: >
            The class set is labels and/or prompts, with optional templates (two shapes, so that
            generated clients can type either; a body with both fits both).
          anyOf:
            - {$ref: "#/components/schemas/CreateStreamWithLabels"}
            - {$ref: "#/components/schemas/CreateStreamWithPrompts"}
          not:
            description: hyperparameters and its deprecated alias policy are never both given
            required: [hyperparameters, policy]
        CreateStreamWithLabels:
          type: object
          additionalProperties: false
          required: [labels]
          properties:
            id: {$ref: "#/components/schemas/Name"}
            labels: {$ref: "#/components/schemas/Labels"}
            prompts: {$ref: "#/components/schemas/Prompts"}
            templates: {$ref: "#/components/schemas/Templates"}
            hyperparameters: {$ref: "#/components/schemas/HyperparametersPatch"}
            policy:
              $ref: "#/components/schemas/HyperparametersPatch"
              deprecated: true
              description: "Deprecated alias of hyperparameters (its name before 0.3.0); giving both is a 400"
            seed: {type: integer, minimum: 0, maximum: 9223372036854775807, description: "Seed of the mask's initial maps (default 0)"}
        CreateStreamWithPrompts:
          type: object
          additionalProperties: false
          required: [prompts]
          properties:
            id: {$ref: "#/components/schemas/Name"}
            labels: {$ref: "#/components/schemas/Labels"}
            prompts: {$ref: "#/components/schemas/Prompts"}
            templates: {$ref: "#/components/schemas/Templates"}
            hyperparameters: {$ref: "#/components/schemas/HyperparametersPatch"}
            policy:
              $ref: "#/components/schemas/HyperparametersPatch"
              deprecated: true
              description: "Deprecated alias of hyperparameters (its name before 0.3.0); giving both is a 400"
            seed: {type: integer, minimum: 0, maximum: 9223372036854775807, description: "Seed of the mask's initial maps (default 0)"}
        StatelessClassify:
          description: The class set as for a stream (labels and/or prompts, optional templates), and the images.
          anyOf:
            - {$ref: "#/components/schemas/StatelessClassifyWithLabels"}
            - {$ref: "#/components/schemas/StatelessClassifyWithPrompts"}
        StatelessClassifyWithLabels:
          type: object
          additionalProperties: false
          required: [labels, images]
          properties:
            labels: {$ref: "#/components/schemas/Labels"}
            prompts: {$ref: "#/components/schemas/Prompts"}
            templates: {$ref: "#/components/schemas/Templates"}
            images: {$ref: "#/components/schemas/ImageList"}
        StatelessClassifyWithPrompts:
          type: object
          additionalProperties: false
          required: [prompts, images]
          properties:
            labels: {$ref: "#/components/schemas/Labels"}
            prompts: {$ref: "#/components/schemas/Prompts"}
            templates: {$ref: "#/components/schemas/Templates"}
            images: {$ref: "#/components/schemas/ImageList"}
        HyperparametersPatch:
          type: object
          additionalProperties: false
          description: Any fields of the stream's hyperparameters, at any depth; the rest keep their defaults (unknown fields, nested ones too, are a 422)
          properties:
            attentionTemperature: {type: number, minimum: 0.001, maximum: 1000}
            policy: {type: string, enum: [predictThenAdapt, adaptThenPredict, episodic]}
            stepsPerBatch: {type: integer, minimum: 0, maximum: 1000}
            runningMomentum: {type: number, minimum: 0, maximum: 0.999999}
            replayImages: {type: integer, minimum: 0, maximum: 4096}
            chunkRows: {type: integer, minimum: 1, maximum: 1048576}
            objective:
              type: object
              additionalProperties: false
              properties:
                entropyWeight: {type: number, minimum: 0, maximum: 1000000}
                confidenceThreshold: {type: [number, "null"], minimum: 0.000001, maximum: 1000}
                diversityWeight: {type: number, minimum: 0, maximum: 1000000}
                diversityMode: {type: string, enum: [batchMean, runningAnchor, automatic, estimatedPrior]}
                diversityShiftPower: {type: number, minimum: 0, maximum: 64}
                diversityUncertaintyPower: {type: number, minimum: 0, maximum: 64}
                entropyReliabilityPower: {type: number, minimum: 0, maximum: 64}
                zeroShotAnchorWeight: {type: number, minimum: 0, maximum: 1000000}
                maskRegularization: {type: number, minimum: 0, maximum: 1000000}
                fixedTemperature: {type: boolean}
            optimizer:
              type: object
              additionalProperties: false
              not:
                description: a queryKeyDecayShare below 1 is adamW's only (Adam's and SGD's decay is an L2 term on every parameter)
                required: [kind, queryKeyDecayShare]
                properties:
                  kind: {enum: [adam, sgd]}
                  queryKeyDecayShare: {type: number, exclusiveMaximum: 1}
              properties:
                kind: {type: string, enum: [adam, adamW, sgd]}
                learningRate: {type: [number, "null"], minimum: 0, maximum: 10}
                beta1: {type: number, minimum: 0, maximum: 0.999999}
                beta2: {type: number, minimum: 0, maximum: 0.999999}
                epsilon: {type: number, minimum: 1.0e-30, maximum: 1}
                weightDecay: {type: number, minimum: 0, maximum: 10000}
                decayReferenceImages: {type: [integer, "null"], minimum: 1, maximum: 4096}
                decayTowardsInitial: {type: [boolean, "null"]}
                queryKeyDecayShare: {type: [number, "null"], minimum: 0, maximum: 1, description: "adamW only; absent or null: 1"}
                momentum: {type: number, minimum: 0, maximum: 0.999999}
            collapse:
              type: object
              additionalProperties: false
              properties:
                entropyResetFraction: {type: [number, "null"], minimum: 0, maximum: 2}
                histogramEntropyResetFraction: {type: [number, "null"], minimum: 0, maximum: 2}
                resetEveryOptimizerSteps: {type: [integer, "null"], minimum: 1, maximum: 9007199254740991}
            centring:
              type: object
              additionalProperties: false
              description: "Embedding centring: subtract a gated share of the stream's running mean image embedding before the mask (weight 0: off)"
              properties:
                weight: {type: number, minimum: 0, maximum: 4}
                memoryImages: {type: number, minimum: 1, maximum: 10000000}
                entropyThreshold: {type: number, minimum: 0, maximum: 2}
                entropyRamp: {type: number, minimum: 0, maximum: 2}
                whitening: {type: number, minimum: 0, maximum: 0.99, description: "Whitening of the centred embeddings by the running covariance shrunk towards the identity: the covariance's share (0 or absent: off)"}
                whiteningRefreshImages: {type: number, minimum: 1, maximum: 10000000, description: "Images after which the whitening matrix is recomputed (default 256)"}
                batchGateMinimum: {type: integer, minimum: 0, maximum: 1000000, description: "Batches of at least this many images are also gated by their own mean zero-shot entropy, with the same threshold and ramp (0: off, the running gate alone)"}
                batchEntropyThreshold: {type: [number, "null"], minimum: 0, maximum: 2, description: "The batch gate's entropy threshold (null or absent: entropyThreshold)"}
            gaussians:
              type: object
              additionalProperties: false
              description: "Class Gaussians fused with the mask: an online Gaussian model per class (pooled covariance) on the embeddings the mask sees, its linear discriminant added to the logits with weight min(weightPerEvidence × mean class evidence, maxWeight) × the centring gate (maxWeight 0: off)"
              properties:
                maxWeight: {type: number, minimum: 0, maximum: 100}
                weightPerEvidence: {type: number, minimum: 0, maximum: 100}
                forgetting: {type: number, minimum: 0.5, maximum: 0.999999, description: "Every learnt image first multiplies all earlier evidence by this factor"}
                initialVariance: {type: number, minimum: 0.000001, maximum: 1000000, description: "Each class's prior spread around its class embedding, per dimension times D"}
                shrinkage: {type: number, minimum: 0.000001, maximum: 0.5}
                priorWindow: {type: number, minimum: 1, maximum: 10000000, description: "Memory of the running class prior that balances the labels, in images"}
            priorCorrection:
              type: object
              additionalProperties: false
              description: "Label-shift correction of a batch's answer: its class prior, estimated by EM from its own predictions, re-weights them (logits + strength × share × (1 − centring gate) × log(K × prior)) where the batch's mean prediction covers few classes; it never changes what the stream learns (strength 0: off)"
              properties:
                strength: {type: number, minimum: 0, maximum: 10}
                coverageThreshold: {type: number, minimum: 0, maximum: 1, description: "Full correction below this coverage H(mean prediction)/log K"}
                coverageRamp: {type: number, minimum: 0, maximum: 1, description: "The coverage rise above the threshold over which the correction fades out"}
                minimumBatch: {type: integer, minimum: 1, maximum: 1048576, description: "Smaller batches are answered uncorrected"}
                batchEntropyThreshold: {type: number, minimum: 0, maximum: 2, description: "No correction for a batch whose mean zero-shot entropy (a fraction of log K) is above this plus the ramp"}
                batchEntropyRamp: {type: number, minimum: 0, maximum: 2}
            stepGate:
              type: object
              additionalProperties: false
              description: "Each step's learning rate times ungatedShare + (1 − ungatedShare) × gate, the gate rising from 0 to 1 as zero-shot's running entropy (a fraction of log K) goes from entropyThreshold to entropyThreshold + entropyRamp; with decayWhileShut the gate scales the gradient's step alone and AdamW's decay keeps its rate; not applied where centring is off or the policy is episodic (no running evidence), nor to labelled steps (ungatedShare 1: off; the default is ungatedShare 0, entropyThreshold 0.13, entropyRamp 0.02, decayWhileShut true)"
              properties:
                ungatedShare: {type: number, minimum: 0, maximum: 1}
                entropyThreshold: {type: number, minimum: 0, maximum: 2}
                entropyRamp: {type: number, minimum: 0, maximum: 2}
                decayWhileShut: {type: boolean, description: "Absent: false"}
            domainMemory:
              type: object
              additionalProperties: false
              description: "The memory of domains: up to capacity stored adapted states, one per domain met, keyed by running mean feature directions (per zero-shot class with key per-class); a request of at least minimumBatch images further than threshold (cosine distance) from the current key stores the state it leaves and restores the nearest stored one within threshold; requests that do not adapt leave it alone; any change of the stream's hyper-parameters empties it; a stream holds min(capacity, maxBytes ÷ its adapted state's bytes) states, none under the episodic policy; each stored state counts in memoryBytes (capacity 0: off; the default is on: 16 states, 64 MiB, threshold 0.03, key per-class)"
              properties:
                capacity: {type: integer, minimum: 0, maximum: 64}
                maxBytes: {type: integer, minimum: 1, maximum: 17179869184, description: "Bytes the stored states may take; absent in a stored header: 17179869184"}
                threshold: {type: number, minimum: 0.000001, maximum: 2}
                key: {type: string, enum: [per-class, batch-mean]}
                keyMomentum: {type: number, minimum: 0, maximum: 0.999999, description: "Weight of a key's past per request"}
                minimumBatch: {type: integer, minimum: 1, maximum: 1048576, description: "Smaller requests never shift"}
                minimumPerClass: {type: integer, minimum: 1, maximum: 1048576, description: "With key per-class, classes with fewer of a request's images are not compared"}
        Hyperparameters:
          type: object
          description: "The stream's adaptation settings; policy is when it adapts relative to the answer"
          required: [attentionTemperature, policy, stepsPerBatch, runningMomentum, replayImages, chunkRows, objective, optimizer, collapse, centring, gaussians, priorCorrection, stepGate, domainMemory]
          properties:
            attentionTemperature: {type: number}
            policy: {type: string, enum: [predictThenAdapt, adaptThenPredict, episodic]}
            stepsPerBatch: {type: integer}
            runningMomentum: {type: number}
            replayImages: {type: integer}
            chunkRows: {type: integer}
            objective: {type: object}
            optimizer: {type: object}
            collapse: {type: object}
            centring: {type: object}
            gaussians: {type: object}
            priorCorrection: {type: object}
            stepGate: {type: object}
            domainMemory: {type: object}
        Stream:
          type: object
          required: [id, labels, hyperparameters, createdAt, requests, samplesSeen, optimizerSteps, skippedSteps, automaticResets, memoryBytes, checkpoints, centring, gaussians, domainMemory]
          properties:
            id: {$ref: "#/components/schemas/Name"}
            labels: {type: array, items: {type: string}}
            templates: {type: array, items: {type: string}}
            prompts: {type: object, additionalProperties: {type: array, items: {type: string}}}
            hyperparameters: {$ref: "#/components/schemas/Hyperparameters"}
            createdAt: {type: string, format: date-time}
            requests: {type: integer, minimum: 0, description: Requests processed}
            samplesSeen: {type: integer, minimum: 0}
            optimizerSteps: {type: integer, minimum: 0, description: Optimiser steps taken}
            skippedSteps: {type: integer, minimum: 0}
            automaticResets: {type: integer, minimum: 0}
            runningEntropy: {type: [number, "null"], description: "Running mean of per-image prediction entropy (nats); null before the first request"}
            memoryBytes: {type: integer, minimum: 0}
            checkpoints: {type: array, items: {$ref: "#/components/schemas/Name"}}
            centring:
              type: object
              description: "Embedding centring now: the share of the running mean image embedding the next request subtracts (weight times the gate), zero-shot CLIP's running entropy on the stream's images (a fraction of log K) that opens the gate, and the running means' weight in images"
              required: [share, zeroShotEntropy, images]
              properties:
                share: {type: number, minimum: 0, maximum: 4}
                zeroShotEntropy: {type: number, minimum: 0}
                images: {type: number, minimum: 0}
            gaussians:
              type: object
              description: "Class Gaussians now: the weight their scores get in the next request (0 while off or the centring gate is shut), the images learnt since creation or the last reset, and the mean class evidence (1 is the prior alone)"
              required: [weight, images, meanEvidence]
              properties:
                weight: {type: number, minimum: 0, maximum: 100}
                images: {type: number, minimum: 0}
                meanEvidence: {type: number, minimum: 1}
            domainMemory:
              type: object
              description: "The memory of domains now: the adapted states it can hold (its capacity within maxBytes for this stream's size; 0 while off) and stores, and the shifts and restores since creation or the last reset (all 0 while it is off)"
              required: [capacity, storedStates, shifts, restores]
              properties:
                capacity: {type: integer, minimum: 0, maximum: 64}
                storedStates: {type: integer, minimum: 0, maximum: 64}
                shifts: {type: integer, minimum: 0}
                restores: {type: integer, minimum: 0}
        Classification:
          type: object
          required: [results]
          properties:
            results:
              type: array
              items:
                type: object
                required: [top, entropy]
                properties:
                  top:
                    type: array
                    items: {type: object, required: [label, probability], properties: {label: {type: string}, probability: {type: number, minimum: 0, maximum: 1}}}
                  entropy: {type: number, minimum: 0}
            request: {type: integer, minimum: 1, description: "The stream's request count after this request (streams only)"}
            optimizerSteps: {type: integer, minimum: 0, description: "Optimiser steps taken before this answer (streams only); absent under predictThenAdapt, whose steps run after it"}
        History:
          type: object
          required: [id, labels, budgetBytes, usedBytes, latest, more, entries]
          properties:
            id: {$ref: "#/components/schemas/Name"}
            labels: {type: array, items: {type: string}, description: "The stream's labels; classes index into them"}
            budgetBytes: {type: integer, minimum: 0, description: "Bytes of entries the ring keeps (65536)"}
            usedBytes: {type: integer, minimum: 0}
            latest: {type: integer, minimum: 0, description: "seq of the newest entry; 0 before the first"}
            more: {type: boolean, description: "Entries after the last one returned exist (ask again with since = its seq)"}
            entries: {type: array, items: {$ref: "#/components/schemas/HistoryEntry"}}
        HistoryEntry:
          type: object
          required: [seq, time, kind]
          properties:
            seq: {type: integer, minimum: 1, description: "Increases by one per entry over the stream's life"}
            time: {type: integer, description: "Milliseconds since 1970-01-01 UTC"}
            kind: {type: string, enum: [request, reset, restore, checkpoint]}
            images: {type: integer, minimum: 1, description: "Requests: images in the request"}
            meanEntropy: {type: number, minimum: 0, description: "Requests: mean prediction entropy (nats)"}
            meanConfidence: {type: number, minimum: 0, maximum: 1, description: "Requests: mean top-1 probability"}
            classes:
              type: array
              description: "Requests: [class index, images] per predicted class, by index"
              items: {type: array, minItems: 2, maxItems: 2, items: {type: integer, minimum: 0}}
            adapted: {type: boolean, description: "Requests: whether the request asked to adapt"}
            steps: {type: integer, minimum: 0, description: "Requests: optimiser steps taken"}
            skipped: {type: string, enum: [notRequested, filtered], description: "Requests: why steps were skipped (adapt=false; the confidence filter kept no sample)"}
            automaticReset: {type: boolean, description: "Requests: collapse protection reset the mask after this request"}
            checkpoint: {$ref: "#/components/schemas/Name"}
        Checkpoint:
          type: object
          required: [name, bytes]
          properties: {name: {$ref: "#/components/schemas/Name"}, bytes: {type: integer, minimum: 0}, createdAt: {type: string, format: date-time}}

    """#
}
