"""POST /v1/references: a reference sample (columns) or its binned summary, fitted once and stored."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from analyzers.binning import fit_reference
from collector import repository
from collector.auth import Principal
from collector.context import Ctx, field_error, known_model, require
from collector.schemas import ReferenceIn, ReferenceOut
from sdk import wire


def router(route_class: type) -> APIRouter:
    r = APIRouter(prefix=wire.API_PREFIX, tags=["references"], route_class=route_class)

    @r.post(
        "/references",
        response_model=ReferenceOut,
        operation_id="postReference",
        summary="Fit and store a reference (baseline) for drift",
    )
    def post_reference(
        body: ReferenceIn, ctx: Ctx, _: Annotated[Principal, Depends(require("ingest"))]
    ) -> ReferenceOut:
        known_model(ctx, body.model, ["body", "model"])
        model = ctx.spec.model(body.model) if ctx.spec else None
        columns = body.columns
        lengths = {len(v) for v in columns.values()}
        if len(lengths) > 1:
            raise field_error(
                422,
                ["body", "columns"],
                f"columns have different lengths {sorted(lengths)}: send one value per row in every column",
            )
        kinds: dict[str, str] | None = None
        if model is not None:
            declared = {f.name: f.type for f in model.drift_features}
            unknown = sorted(set(columns) - {f.name for f in model.features})
            if unknown:
                raise field_error(
                    422,
                    ["body", "columns", unknown[0]],
                    f"{unknown[0]!r} is not a declared feature of {model.name!r}: "
                    "declare it in the spec or leave it out",
                )
            columns = {k: v for k, v in columns.items() if k in declared}
            kinds = {k: declared[k] for k in columns}
        if not columns or not next(iter(lengths), 0):
            raise field_error(
                422,
                ["body", "columns"],
                "no reference values for any drift feature: send at least one non-empty numeric or categorical column",
            )
        bins = body.bins or (model.drift.bins if model else 10)
        try:
            fitted = fit_reference(columns, kinds=kinds, n_bins=bins)
        except (TypeError, ValueError) as exc:
            raise field_error(422, ["body", "columns"], f"cannot fit the reference: {exc}") from None
        features: dict[str, Any] = {name: ref.to_dict() for name, ref in fitted.items()}
        n = next(iter(lengths))
        with ctx.sessions.begin() as s:
            ref_id = repository.create_reference(
                s, model=body.model, version=body.version, name=body.name, n=n, features=features
            )
        return ReferenceOut(id=ref_id, model=body.model, version=body.version, n=n, features=features)

    return r
