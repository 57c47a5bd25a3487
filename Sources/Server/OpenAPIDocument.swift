/// The OpenAPI 3.1 description served at `/openapi.yaml`. `Docs/openapi.yaml` is the same text
/// (a test keeps them identical; `rada serve --print-openapi > Docs/openapi.yaml` rewrites it).
enum OpenAPIDocument {
    static let yaml = #"""
    openapi: 3.1.0
    info:
      title: RAdaServe
      version: 0.1.0
      description: >
        CLIP zero-shot classification that adapts online per client stream (RAda mask).
        Every request except /healthz, /readyz, /metrics and /openapi.yaml needs
        "Authorization: Bearer KEY" when the server has API keys; a client sees only its own
        streams and checkpoints (another client's stream is a 404). Errors always have the shape
        {"error": {"code", "message"}} (keys in this order). Besides each route's own statuses, any
        request may get: 400 (not valid HTTP/1.1; a path id or name that is invalid after
        percent-decoding), 405 with Allow (known path, other method), 408 (request head not
        received within the header timeout), 414 (request line too long), 431 (headers too
        large), 429 (the client already has its cap of requests in flight, with Retry-After),
        500 (internal; the message is only a reference id) and 503 (new connection while the
        server's connection cap is reached and every connection is busy, with Retry-After; or,
        code stream_quarantined, a stream whose stored state cannot be loaded: only DELETE works
        on it, no Retry-After; with the PostgreSQL store, code stream_moved, another server owns
        the stream, nothing written, or store_unavailable, the database cannot be reached; both
        with Retry-After).
        Request bodies are matched by
        exact media type (parameters allowed); a multipart body must be complete.
    servers:
      - url: http://127.0.0.1:8080
    security:
      - bearer: []
    paths:
      /healthz:
        get:
          summary: Liveness
          security: []
          responses:
            "200": {description: Alive, content: {application/json: {schema: {$ref: "#/components/schemas/Status"}}}}
      /readyz:
        get:
          summary: Readiness (model loaded and warmed up)
          security: []
          responses:
            "200": {description: Ready, content: {application/json: {schema: {$ref: "#/components/schemas/Status"}}}}
            "503": {description: Warming up, content: {application/json: {schema: {$ref: "#/components/schemas/Status"}}}}
      /metrics:
        get:
          summary: Prometheus metrics
          security: []
          responses:
            "200": {description: Text exposition format, content: {text/plain: {schema: {type: string}}}}
      /openapi.yaml:
        get:
          summary: This document
          security: []
          responses:
            "200": {description: OpenAPI 3.1, content: {application/yaml: {schema: {type: string}}}}
      /v1/streams:
        post:
          summary: Create a stream
          requestBody:
            required: true
            content: {application/json: {schema: {$ref: "#/components/schemas/CreateStream"}}}
          responses:
            "201": {description: Created, content: {application/json: {schema: {$ref: "#/components/schemas/Stream"}}}}
            "400": {$ref: "#/components/responses/Error"}
            "401": {$ref: "#/components/responses/Error"}
            "409": {$ref: "#/components/responses/Error"}
            "413": {$ref: "#/components/responses/Error"}
            "415": {$ref: "#/components/responses/Error"}
            "422": {$ref: "#/components/responses/Error"}
        get:
          summary: The caller's streams
          responses:
            "200":
              description: Streams
              content:
                application/json:
                  schema:
                    type: object
                    properties:
                      streams:
                        type: array
                        items:
                          type: object
                          properties: {id: {type: string}, labels: {type: integer}, createdAt: {type: string, format: date-time}}
            "401": {$ref: "#/components/responses/Error"}
      /v1/streams/{id}:
        parameters: [{$ref: "#/components/parameters/StreamID"}]
        get:
          summary: A stream's state
          responses:
            "200": {description: The stream, content: {application/json: {schema: {$ref: "#/components/schemas/Stream"}}}}
            "404": {$ref: "#/components/responses/Error"}
        delete:
          summary: Delete a stream and its checkpoints
          responses:
            "204": {description: Deleted}
            "404": {$ref: "#/components/responses/Error"}
      /v1/streams/{id}/classify:
        parameters:
          - {$ref: "#/components/parameters/StreamID"}
          - {name: adapt, in: query, schema: {type: boolean, default: true}, description: "false: predict (and update running statistics) without an optimiser step"}
          - {$ref: "#/components/parameters/Top"}
        post:
          summary: Classify a batch of images, then adapt per the stream's policy
          description: >
            Requests on one stream apply one at a time in arrival order. A bad image anywhere in the
            batch rejects the whole request and leaves the stream untouched. The request is durable
            (journaled and fsynced) before the response is sent; under predictThenAdapt (the
            default) the response is sent once the request is predicted and its optimiser steps
            run after it, before the stream's next request. Image limits (413) are checked
            from the files' headers before anything is decoded; 503 with Retry-After when the
            server's image-decoding memory stays busy.
          requestBody:
            required: true
            content:
              multipart/form-data:
                schema: {type: object, additionalProperties: {type: string, format: binary}}
              application/json:
                schema: {$ref: "#/components/schemas/Images"}
          responses:
            "200": {description: Predictions, content: {application/json: {schema: {$ref: "#/components/schemas/Classification"}}}}
            "400": {$ref: "#/components/responses/Error"}
            "404": {$ref: "#/components/responses/Error"}
            "413": {$ref: "#/components/responses/Error"}
            "415": {$ref: "#/components/responses/Error"}
            "422": {$ref: "#/components/responses/Error"}
            "429": {$ref: "#/components/responses/Error"}
            "503": {$ref: "#/components/responses/Error"}
      /v1/streams/{id}/reset:
        parameters: [{$ref: "#/components/parameters/StreamID"}]
        post:
          summary: Back to the base (zero-shot) state; counters cleared
          responses:
            "200": {description: The reset stream, content: {application/json: {schema: {$ref: "#/components/schemas/Stream"}}}}
            "404": {$ref: "#/components/responses/Error"}
      /v1/streams/{id}/checkpoints:
        parameters: [{$ref: "#/components/parameters/StreamID"}]
        post:
          summary: Save the stream's current state as a named checkpoint
          requestBody:
            required: true
            content: {application/json: {schema: {type: object, required: [name], properties: {name: {$ref: "#/components/schemas/Name"}}}}}
          responses:
            "201": {description: Saved, content: {application/json: {schema: {$ref: "#/components/schemas/Checkpoint"}}}}
            "404": {$ref: "#/components/responses/Error"}
            "409": {$ref: "#/components/responses/Error"}
        get:
          summary: The stream's checkpoints
          responses:
            "200":
              description: Checkpoints
              content:
                application/json:
                  schema: {type: object, properties: {checkpoints: {type: array, items: {$ref: "#/components/schemas/Checkpoint"}}}}
            "404": {$ref: "#/components/responses/Error"}
      /v1/streams/{id}/checkpoints/{name}:
        parameters: [{$ref: "#/components/parameters/StreamID"}, {$ref: "#/components/parameters/CheckpointName"}]
        get:
          summary: Download the checkpoint file (safetensors)
          responses:
            "200": {description: The file, content: {application/octet-stream: {schema: {type: string, format: binary}}}}
            "404": {$ref: "#/components/responses/Error"}
        put:
          summary: Upload a checkpoint file (from this or another server) under a name
          description: >
            Key, stream, name and size are checked before the body is read (413 above the smaller of
            --max-checkpoint-mb and the largest checkpoint this stream can produce). The file must
            be a valid stream checkpoint inside the documented bounds (422) and fit the stream: same
            dimension, heads, labels, class embeddings, logit scale and policy (409).
          requestBody:
            required: true
            content: {application/octet-stream: {schema: {type: string, format: binary}}}
          responses:
            "201": {description: Stored, content: {application/json: {schema: {$ref: "#/components/schemas/Checkpoint"}}}}
            "404": {$ref: "#/components/responses/Error"}
            "409": {$ref: "#/components/responses/Error"}
            "413": {$ref: "#/components/responses/Error"}
            "415": {$ref: "#/components/responses/Error"}
            "422": {$ref: "#/components/responses/Error"}
        delete:
          summary: Delete a checkpoint
          responses:
            "204": {description: Deleted}
            "404": {$ref: "#/components/responses/Error"}
      /v1/streams/{id}/checkpoints/{name}/restore:
        parameters: [{$ref: "#/components/parameters/StreamID"}, {$ref: "#/components/parameters/CheckpointName"}]
        post:
          summary: Bring back the checkpoint's adaptation (mask, optimiser, counters, statistics)
          description: The stream keeps its own class embeddings, policy and seed, so a reset afterwards is its own zero-shot.
          responses:
            "200": {description: The restored stream, content: {application/json: {schema: {$ref: "#/components/schemas/Stream"}}}}
            "404": {$ref: "#/components/responses/Error"}
            "409": {$ref: "#/components/responses/Error"}
            "422": {$ref: "#/components/responses/Error"}
      /v1/classify:
        parameters: [{$ref: "#/components/parameters/Top"}]
        post:
          summary: Stateless zero-shot classification
          description: >
            Same image limits as a stream's classify: 413 from the files' headers before anything
            is decoded, 503 with Retry-After when the server's image-decoding memory stays busy.
          requestBody:
            required: true
            content:
              application/json:
                schema:
                  type: object
                  required: [images]
                  properties:
                    labels: {type: array, items: {type: string}}
                    prompts: {type: object, additionalProperties: {type: array, items: {type: string}}}
                    templates: {type: array, items: {type: string}}
                    images: {type: array, items: {type: string, contentEncoding: base64}}
          responses:
            "200": {description: Predictions, content: {application/json: {schema: {$ref: "#/components/schemas/Classification"}}}}
            "400": {$ref: "#/components/responses/Error"}
            "413": {$ref: "#/components/responses/Error"}
            "415": {$ref: "#/components/responses/Error"}
            "422": {$ref: "#/components/responses/Error"}
            "429": {$ref: "#/components/responses/Error"}
            "503": {$ref: "#/components/responses/Error"}
    components:
      securitySchemes:
        bearer: {type: http, scheme: bearer}
      parameters:
        StreamID: {name: id, in: path, required: true, schema: {$ref: "#/components/schemas/Name"}}
        CheckpointName: {name: name, in: path, required: true, schema: {$ref: "#/components/schemas/Name"}}
        Top: {name: top, in: query, schema: {type: integer, minimum: 1, maximum: 100, default: 5}}
      responses:
        Error:
          description: An error
          content: {application/json: {schema: {$ref: "#/components/schemas/Error"}}}
      schemas:
        Name: {type: string, pattern: "^[A-Za-z0-9_.-]{1,64}$", description: "must not start with a dot"}
        Status: {type: object, properties: {status: {type: string}}}
        Error:
          type: object
          required: [error]
          properties:
            error:
              type: object
              required: [code, message]
              properties:
                code: {type: string, enum: [bad_request, unauthorized, not_found, method_not_allowed, request_timeout, uri_too_long, conflict, too_large, unsupported_media_type, unprocessable, queue_full, headers_too_large, unavailable, stream_quarantined, stream_moved, store_unavailable, internal]}
                message: {type: string}
        Images:
          type: object
          required: [images]
          properties:
            images: {type: array, items: {type: string, contentEncoding: base64}, description: PNG or JPEG files}
        CreateStream:
          type: object
          properties:
            id: {$ref: "#/components/schemas/Name"}
            labels: {type: array, items: {type: string}, description: "Class names, in order; with only prompts the sorted prompt keys"}
            prompts: {type: object, additionalProperties: {type: array, items: {type: string}}, description: "Prompts per label (ensembled)"}
            templates: {type: array, items: {type: string}, description: "Templates with {} for the label"}
            policy: {type: object, description: "Any fields of RAdaHyperparameters (policy, stepsPerBatch, optimizer, objective, collapse, ...); the rest keep their defaults"}
            seed: {type: integer, description: "Seed of the mask's initial maps (default 0)"}
        Stream:
          type: object
          properties:
            id: {type: string}
            labels: {type: array, items: {type: string}}
            templates: {type: array, items: {type: string}}
            prompts: {type: object, additionalProperties: {type: array, items: {type: string}}}
            policy: {type: object}
            createdAt: {type: string, format: date-time}
            steps: {type: integer, description: Requests processed}
            samplesSeen: {type: integer}
            optimizerSteps: {type: integer}
            skippedSteps: {type: integer}
            automaticResets: {type: integer}
            runningEntropy: {type: [number, "null"]}
            memoryBytes: {type: integer}
            checkpoints: {type: array, items: {type: string}}
        Classification:
          type: object
          properties:
            results:
              type: array
              items:
                type: object
                properties:
                  top: {type: array, items: {type: object, properties: {label: {type: string}, probability: {type: number}}}}
                  entropy: {type: number}
            step: {type: integer, description: "The stream's request count after this request (streams only)"}
            adaptationSteps: {type: integer, description: "Optimiser steps taken before this answer (streams only); absent under predictThenAdapt, whose steps run after it"}
        Checkpoint:
          type: object
          properties: {name: {type: string}, bytes: {type: integer}, createdAt: {type: string, format: date-time}}

    """#
}
