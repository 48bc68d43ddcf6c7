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
        "schema": {"type": "integer", "minimum": 1, "maximum": 999_999_999_999_999_999},
    }


SERIAL = {
    "name": "serial",
    "in": "path",
    "required": True,
    "description": "The stamp's 16-character serial, or the short code printed under its QR",
    "schema": {"type": "string", "maxLength": 40},
}

COMMON_ERRORS = {
    "400": _error("Bad input: the message says what to change"),
    "401": _error("Missing or wrong API key"),
    "404": _error("No such object for this business"),
    "429": _error("Rate limited; see Retry-After"),
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
                        "200": {
                            "description": "PDF",
                            "content": {
                                "application/pdf": {
                                    "schema": {"type": "string", "format": "binary"}
                                }
                            },
                        }
                    },
                    parameters=[
                        _id("batch_id"),
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
                        {
                            "name": "cut_marks",
                            "in": "query",
                            "required": False,
                            "schema": {"type": "boolean"},
                        },
                    ],
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
