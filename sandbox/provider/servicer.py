"""The gRPC servicer `tf.runner.run_provider` serves, with the stand-in's planning in place of
`tf`'s: terraform-plugin-sdk's rules (sdkdiff.py) and each resource's CustomizeDiff decide the
planned values and what forces replacement.
"""

from __future__ import annotations

import traceback
from typing import Any

from tf.gen import tfplugin_pb2 as pb
from tf.utils import read_dynamic_value, to_dynamic_value

from sandbox.provider import sdkdiff
from sandbox.provider.framework import Path


def _path(path: Path) -> Any:
    steps = [pb.AttributePath.Step(element_key_int=p) if isinstance(p, int)
             else pb.AttributePath.Step(attribute_name=p) for p in path]
    return pb.AttributePath(steps=steps)


def install_servicer() -> None:
    """Make `tf.runner.run_provider` serve with the stand-in's planning rules."""
    import tf.provider

    base = tf.provider.ProviderServicer

    class OpenStackServicer(base):  # type: ignore[misc, valid-type]
        def PlanResourceChange(self, request: Any, context: Any) -> Any:  # noqa: N802 - gRPC name
            response = super().PlanResourceChange(request, context)
            if any(d.severity == pb.Diagnostic.ERROR for d in response.diagnostics):
                return response
            try:
                self._adjust_plan(request, response)
            except Exception as exc:  # report, never surface as an opaque gRPC failure
                summary = f"Error planning {request.type_name}: {type(exc).__name__}: {exc}"
                response.diagnostics.append(pb.Diagnostic(severity=pb.Diagnostic.ERROR, summary=summary,
                                                          detail=traceback.format_exc()))
            return response

        def _adjust_plan(self, request: Any, response: Any) -> None:
            klass = self._get_res_cls(request.type_name)
            prior = read_dynamic_value(request.prior_state)
            proposed = read_dynamic_value(response.planned_state)
            if proposed is None:
                return
            config = read_dynamic_value(request.config) or {}
            planned, replace = sdkdiff.plan(klass.get_schema(), prior, config, proposed)
            if prior is not None:
                replace += klass.customize_diff(prior, planned)
            response.planned_state.CopyFrom(to_dynamic_value(planned))
            del response.requires_replace[:]
            response.requires_replace.extend(_path(p) for p in dict.fromkeys(replace))

    tf.provider.ProviderServicer = OpenStackServicer
