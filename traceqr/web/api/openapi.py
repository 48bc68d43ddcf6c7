"""The OpenAPI 3.1 document of /api/v1, built from the pydantic models the API uses."""

from __future__ import annotations

from functools import cache
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from traceqr.web.api import schemas

REF = "#/components/schemas/{model}"
_MODELS: tuple[type[BaseModel], ...] = (
    schemas.ProductIn,
    schemas.BatchIn,
    schemas.IssueIn,
    schemas.RevokeIn,
    schemas.RecallIn,
    schemas.ProductOut,
    schemas.BatchOut,
    schemas.IssueOut,
    schemas.StampOut,
    schemas.ActivateBatchOut,
    schemas.VerifyOut,
    schemas.ErrorOut,
    schemas.StampJobIn,
    schemas.JobOut,
    schemas.FacilityIn,
    schemas.FacilityOut,
    schemas.EventIn,
    schemas.EventOut,
    schemas.EventListOut,
    schemas.ImportOut,
    schemas.ShipmentIn,
    schemas.ShipmentAnswerIn,
    schemas.ShipmentOut,
    schemas.ShipmentListOut,
)


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": REF.format(model=model.__name__)}


def _json(model: type[BaseModel], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(model)}}}


def _error(description: str) -> dict[str, Any]:
    return _json(schemas.ErrorOut, description)


def _body(model: type[BaseModel], required: bool = True) -> dict[str, Any]:
    return {"required": required, "content": {"application/json": {"schema": _ref(model)}}}


def _id(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "schema": {"type": "integer", "minimum": 1, "maximum": 2_147_483_647},
    }


SERIAL = {
    "name": "serial",
    "in": "path",
    "required": True,
    "description": "The stamp's 16-character serial, or the short code printed under its QR",
    "schema": {"type": "string", "maxLength": 40},
}

# The layout a sheet.pdf or a sheet-job asks for, as query parameters.
SHEET_PARAMETERS: list[dict[str, Any]] = [
    *(
        {
            "name": name,
            "in": "query",
            "required": False,
            "description": text,
            "schema": {"type": "number", "minimum": 0, "maximum": 1000},
        }
        for name, text in (
            ("stamp_mm", "QR side with its quiet zone, mm (default 25)"),
            ("margin_mm", "Page margin, mm (default 8)"),
            ("gap_mm", "Gap between stamps, mm (default 2)"),
        )
    ),
    {
        "name": "ecc",
        "in": "query",
        "required": False,
        "schema": {"type": "string", "enum": ["L", "M", "Q", "H"]},
    },
    {"name": "cut_marks", "in": "query", "required": False, "schema": {"type": "boolean"}},
]

PDF_ANSWER = {
    "description": "PDF",
    "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}},
}

COMMON_ERRORS = {
    "400": _error("Bad input: the message says what to change"),
    "401": _error("Missing or wrong API key"),
    "404": _error("No such object for this business"),
    "429": _error(
        "Rate limited, or past one of the business's quotas (jobs at once, stamps a day, "
        "kept sheet files: docs/operations.md); see Retry-After"
    ),
}


def _operation(summary: str, responses: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"summary": summary, "responses": {**responses, **COMMON_ERRORS}, **extra}


@cache
def _components() -> dict[str, Any]:
    _, top = models_json_schema(
        [
            (model, "validation" if model.__name__.endswith("In") else "serialization")
            for model in _MODELS
        ],
        ref_template=REF,
    )
    return top.get("$defs", {})


def _file_body(media_type: str, description: str) -> dict[str, Any]:
    return {
        "required": True,
        "description": description,
        "content": {media_type: {"schema": {"type": "string"}}},
    }


def _traceability_paths() -> dict[str, Any]:
    batch = [_id("batch_id")]
    shipment = [_id("shipment_id")]
    return {
        "/facilities": {
            "get": _operation(
                "List your facilities",
                {"200": {"description": '`{"facilities": [Facility]}`'}},
            ),
            "post": _operation(
                "Register a facility (farm, factory, warehouse, shop)",
                {"201": _json(schemas.FacilityOut, "The facility")},
                requestBody=_body(schemas.FacilityIn),
            ),
        },
        "/batches/{batch_id}/events": {
            "get": _operation(
                "The batch's trace events, oldest first",
                {"200": _json(schemas.EventListOut, "The events")},
                parameters=batch,
            ),
            "post": _operation(
                "Record a trace event on a batch you hold (yours or shipped to you)",
                {"201": _json(schemas.EventOut, "The event")},
                parameters=batch,
                requestBody=_body(schemas.EventIn),
            ),
        },
        "/batches/{batch_id}/events.csv": {
            "post": _operation(
                "Import events from CSV, all or none",
                {"201": _json(schemas.ImportOut, "Every row was recorded")},
                parameters=batch,
                requestBody=_file_body(
                    "text/csv",
                    "UTF-8 CSV with a header row; columns event_time, biz_step, disposition, "
                    "facility, place, source, destination, quantity, unit, inputs, note",
                ),
            )
        },
        "/batches/{batch_id}/epcis.jsonld": {
            "get": _operation(
                "The batch's events as an EPCIS 2.0 JSON-LD document",
                {
                    "200": {
                        "description": "EPCISDocument",
                        "content": {"application/ld+json": {"schema": {"type": "object"}}},
                    }
                },
                parameters=batch,
            )
        },
        "/epcis/capture": {
            "post": _operation(
                "Import an EPCIS 2.0 JSON(-LD) document about batches you hold, all or none",
                {"201": _json(schemas.ImportOut, "Every event was recorded or already present")},
                requestBody=_file_body("application/ld+json", "An EPCISDocument"),
            )
        },
        "/batches/{batch_id}/shipments": {
            "post": _operation(
                "Ship the batch to a partner business on TraceQR",
                {"201": _json(schemas.ShipmentOut, "The shipment, waiting for the partner")},
                parameters=batch,
                requestBody=_body(schemas.ShipmentIn),
            )
        },
        "/shipments": {
            "get": _operation(
                "Shipments to and from you, newest first",
                {"200": _json(schemas.ShipmentListOut, "Incoming and outgoing")},
            )
        },
        "/shipments/{shipment_id}/accept": {
            "post": _operation(
                "Accept a shipment: it becomes your receiving event on the batch",
                {
                    "200": _json(schemas.ShipmentOut, "The accepted shipment"),
                    "409": _error("Already answered"),
                },
                parameters=shipment,
                requestBody=_body(schemas.ShipmentAnswerIn, required=False),
            )
        },
        "/shipments/{shipment_id}/refuse": {
            "post": _operation(
                "Refuse a shipment",
                {
                    "200": _json(schemas.ShipmentOut, "The refused shipment"),
                    "409": _error("Already answered"),
                },
                parameters=shipment,
                requestBody=_body(schemas.ShipmentAnswerIn, required=False),
            )
        },
        "/batches/{batch_id}/passport.json": {
            "get": _operation(
                "Product, producer, batch and events for the national traceability portal "
                "and the digital product passport (Decree 37/2026 Art. 32)",
                {
                    "200": {
                        "description": "traceqr-passport/1",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    }
                },
                parameters=batch,
            )
        },
    }


def openapi_document(server_url: str) -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "TraceQR API",
            "version": "1",
            "description": "Issue signed anti-counterfeit stamps for product batches, print "
            "them, and verify scanned stamps. Authenticate with `Authorization: Bearer "
            '<api key>`. Errors are `{"error": {"code", "message"}}`.',
        },
        "servers": [{"url": server_url + "/api/v1"}],
        "components": {
            "schemas": _components(),
            "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"apiKey": []}],
        "paths": {
            "/products": {
                "post": _operation(
                    "Register a product",
                    {"201": _json(schemas.ProductOut, "The product")},
                    requestBody=_body(schemas.ProductIn),
                )
            },
            "/products/{product_id}": {
                "get": _operation(
                    "Read a product",
                    {"200": _json(schemas.ProductOut, "The product")},
                    parameters=[_id("product_id")],
                )
            },
            "/products/{product_id}/batches": {
                "post": _operation(
                    "Register a batch (lot) of a product",
                    {
                        "201": _json(schemas.BatchOut, "The batch"),
                        "409": _error("The product already has a batch with this lot"),
                    },
                    parameters=[_id("product_id")],
                    requestBody=_body(schemas.BatchIn),
                )
            },
            "/batches/{batch_id}": {
                "get": _operation(
                    "Read a batch with its stamp counts",
                    {"200": _json(schemas.BatchOut, "The batch")},
                    parameters=[_id("batch_id")],
                )
            },
            "/batches/{batch_id}/stamps": {
                "post": _operation(
                    "Issue signed stamps (all or none)",
                    {
                        "201": _json(schemas.IssueOut, "Every stamp is stored"),
                        "409": _error("The batch is recalled"),
                    },
                    parameters=[_id("batch_id")],
                    requestBody=_body(schemas.IssueIn),
                )
            },
            "/batches/{batch_id}/stamp-jobs": {
                "post": _operation(
                    "Issue up to 1,000,000 stamps in the background (all or none)",
                    {
                        "202": _json(schemas.JobOut, "The job, queued: poll its url"),
                        "409": _error("The batch is recalled"),
                    },
                    parameters=[_id("batch_id")],
                    requestBody=_body(schemas.StampJobIn),
                )
            },
            "/jobs/{job_id}": {
                "get": _operation(
                    "A background job's status and progress",
                    {"200": _json(schemas.JobOut, "The job")},
                    parameters=[_id("job_id")],
                )
            },
            "/batches/{batch_id}/activate": {
                "post": _operation(
                    "Activate every inactive stamp of the batch",
                    {"200": _json(schemas.ActivateBatchOut, "How many stamps changed")},
                    parameters=[_id("batch_id")],
                )
            },
            "/batches/{batch_id}/recall": {
                "post": _operation(
                    "Recall the batch: its stamps verify as recalled",
                    {"200": _json(schemas.BatchOut, "The recalled batch")},
                    parameters=[_id("batch_id")],
                    requestBody=_body(schemas.RecallIn),
                )
            },
            "/batches/{batch_id}/stamps.csv": {
                "get": _operation(
                    "Every stamp of the batch as CSV, in issue order",
                    {
                        "200": {
                            "description": "RFC 4180 CSV, UTF-8, with a header row; `url` is "
                            "exactly the QR text",
                            "content": {"text/csv": {"schema": {"type": "string"}}},
                        }
                    },
                    parameters=[_id("batch_id")],
                )
            },
            "/batches/{batch_id}/sheet.pdf": {
                "get": _operation(
                    "A printable A4 vector PDF of every stamp of the batch",
                    {
                        "200": PDF_ANSWER,
                        "413": _error(
                            "More stamps than a sheet made while the request waits may hold "
                            "(TRACEQR_SYNC_SHEET_MAX_STAMPS, 20,000 by default): use sheet-jobs"
                        ),
                    },
                    parameters=[_id("batch_id"), *SHEET_PARAMETERS],
                )
            },
            "/batches/{batch_id}/sheet-jobs": {
                "post": _operation(
                    "Write the batch's sheet PDF in the background (large batches)",
                    {"202": _json(schemas.JobOut, "The job, queued: poll its url")},
                    parameters=[_id("batch_id"), *SHEET_PARAMETERS],
                )
            },
            "/jobs/{job_id}/sheet.pdf": {
                "get": _operation(
                    "The PDF a done sheet-job wrote",
                    {"200": PDF_ANSWER},
                    parameters=[_id("job_id")],
                )
            },
            "/stamps/{serial}": {
                "get": _operation(
                    "Read a stamp",
                    {"200": _json(schemas.StampOut, "The stamp")},
                    parameters=[SERIAL],
                )
            },
            "/stamps/{serial}/activate": {
                "post": _operation(
                    "Activate one stamp",
                    {"200": _json(schemas.StampOut, "The stamp")},
                    parameters=[SERIAL],
                )
            },
            "/stamps/{serial}/revoke": {
                "post": _operation(
                    "Revoke one stamp: it verifies as revoked from now on",
                    {"200": _json(schemas.StampOut, "The stamp")},
                    parameters=[SERIAL],
                    requestBody=_body(schemas.RevokeIn, required=False),
                )
            },
            "/verify": {
                "get": {
                    "summary": "Verify a scanned text (public, rate limited)",
                    "security": [],
                    "parameters": [
                        {
                            "name": "q",
                            "in": "query",
                            "required": True,
                            "description": "The stamp URL, the bare code, or the short code",
                            "schema": {"type": "string", "minLength": 1},
                        },
                        {
                            "name": "province",
                            "in": "query",
                            "required": False,
                            "description": "Where the check happens: a province code (ha-noi, …)",
                            "schema": {"type": "string"},
                        },
                        {
                            "name": "lat",
                            "in": "query",
                            "required": False,
                            "description": "Latitude, with the user's consent; rounded to 0.1°",
                            "schema": {"type": "number", "minimum": -90, "maximum": 90},
                        },
                        {
                            "name": "lon",
                            "in": "query",
                            "required": False,
                            "schema": {"type": "number", "minimum": -180, "maximum": 180},
                        },
                    ],
                    "responses": {
                        "200": _json(schemas.VerifyOut, "The verdict"),
                        "400": _error("No text given"),
                        "429": _error("Rate limited; see Retry-After"),
                    },
                }
            },
            **_traceability_paths(),
            "/openapi.json": {
                "get": {
                    "summary": "This document",
                    "security": [],
                    "responses": {
                        "200": {
                            "description": "OpenAPI 3.1",
                            "content": {"application/json": {"schema": {"type": "object"}}},
                        }
                    },
                }
            },
        },
    }
