"""The life of one operation: hooks, parse, validate, execute or subscribe, stream.

The steps and the meaning of every hook's return value follow graphql-ws's
``subscribe`` handler. The pipeline never decides what goes on the wire: it reports
outcomes (a result, errors from a stage, the end, a failure) to a :class:`ResultSink`,
which the transport implements (a WebSocket connection's protocol machine turns them
into messages, an HTTP request into its response). Nothing here knows a transport.
"""

from __future__ import annotations

import asyncio
import contextlib
import types
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Coroutine,
    Generator,
    Hashable,
)
from typing import TYPE_CHECKING, Any, Final, Protocol, cast

from graphql import ExecutionResult, GraphQLError, GraphQLSchema, OperationType

from .context import Context
from .errors import RequestErrors, ServerError
from .execution import (
    UNSET,
    CachedDocument,
    ExecutionArgs,
    coercion_failed,
    format_errors,
    format_incremental_result,
    format_result,
    operation_of,
    source_error,
    unwrap_schema,
)
from .fanout.resume import (
    ResumePoint,
    current_resume,
    requested_cursor,
    with_resume_extensions,
)
from .hooks import call_hook, is_awaitable, resolve
from .incremental import is_incremental_result
from .protocol import ErrorStage, OperationId
from .protocol.messages import JSONObject
from .schema_libraries import default_context
from .sharing import Group, GroupEnd, GroupKey, Member, Told, group_key

if TYPE_CHECKING:
    from .observe import OperationRunner
    from .runtime import ServerRuntime


class ResultSink(Protocol):
    """Where one operation's outcomes go: the one thing a transport implements to run
    operations.

    After :meth:`complete` or :meth:`failed`, or once :meth:`is_active` is false,
    nothing more is reported.
    """

    def is_active(self) -> bool:
        """Whether results are still wanted (the client may have cancelled, the
        transport may have ended, or taken the one result it carries)."""

    async def next(self, payload: JSONObject) -> None:
        """A result, formatted (may wait: the transport's back-pressure)."""

    async def errors(self, errors: list[JSONObject], stage: ErrorStage) -> None:
        """Errors that end the operation, formatted, and the stage they come from."""

    async def complete(self) -> None:
        """The operation ended normally."""

    async def failed(self, error: Exception) -> None:
        """The operation ended in an exception from application code (or a
        :class:`ServerError`): the transport decides what the client is told."""


class Parking(Told, Protocol):
    """How a transport lets a shared subscription wait for its group without a task of
    its own (:meth:`park`); a transport without it keeps the operation's task waiting.
    """

    def park(self, operation: Operation) -> None:
        """The operation's task ends now. Once its group ends for it (the group calls
        :meth:`~gqlwire.sharing.Told.group_ended` with how), run
        ``operation.end_parked(end)`` in a new task; when the operation is cancelled
        first, run ``operation.end_parked(None)`` at once (the rest then sees the
        cancellation where it waited), and ignore the group's end."""


Admission = Callable[[OperationType], None]
"""Called with the type of an operation just before it executes (after
``on_subscribe``, so that documents it supplies are covered too): raises to refuse
what a transport does not run."""


_SUBSCRIPTION: Final = OperationType.SUBSCRIPTION
"""Looked at for every operation: a module constant, read as a global, where an enum
member read through its class costs several times more (on Python 3.11)."""

_RELEASED_PAYLOAD: JSONObject = {}
"""What a parked operation keeps of its request when no hook will be given it (never
changed: nothing writes to a payload)."""


class Operation:
    """One running operation; :meth:`run` is the body of its task."""

    __slots__ = (
        "_completed",
        "_parked_group",
        "admit",
        "args",
        "context",
        "id",
        "incremental_delivery",
        "inline",
        "kind",
        "member",
        "options",
        "parking",
        "payload",
        "resume",
        "runtime",
        "sink",
    )

    def __init__(
        self,
        runtime: ServerRuntime,
        context: Context,
        id: OperationId | None,
        payload: JSONObject,
        sink: ResultSink,
        *,
        member: Member | None = None,
        parking: Parking | None = None,
        admit: Admission | None = None,
        incremental_delivery: bool = False,
        inline: bool = False,
    ) -> None:
        """``id``: what hooks are given (``None`` where a transport has no ids);
        ``member``: how a shared subscription offers this operation its events, for a
        transport that can take them (without one, the operation never shares);
        ``parking``: how the transport lets a shared subscription wait for its group
        without its task (only when the server has no instruments, which observe an
        operation's whole life in its task);
        ``admit``: refuses the operations the transport does not run;
        ``incremental_delivery``: whether the transport carries the results of an
        incremental response (``@defer``, ``@stream``) one by one; without it, deferred
        fragments and streamed lists are executed in place and one result answers;
        ``inline``: the transport steps the operation's coroutine in its own task until
        it first suspends, and only then gives it a task (see
        :meth:`~gqlwire.runtime.ServerRuntime.starts_operations_inline`): the operation
        then suspends once before it runs application code that may be asynchronous
        (executing, subscribing, catching up), so that this code runs in its task."""
        self.runtime = runtime
        self.options = runtime.options
        self.context = context
        self.id = id
        self.payload = payload
        self.sink = sink
        self.member = member
        self.parking = parking if runtime.observe is None else None
        self.admit = admit
        self.incremental_delivery = incremental_delivery
        self.inline = inline
        self.args: ExecutionArgs | None = None
        self.kind: OperationType | None = None
        """The type of the operation ``args`` selects, once known."""
        self.resume: ResumePoint | None = None
        """Where a subscription is in its history broker's topics (see
        :mod:`gqlwire.fanout.resume`); set when the operation subscribes."""
        self._completed = False
        # The group, while parked (see Parking).
        self._parked_group: Group | None = None

    def run(self) -> Coroutine[Any, Any, None]:
        """The body of the operation's task: run through the server's instruments
        (metrics, tracing) when it has some, bare otherwise (then without a frame of
        its own, which every running operation would keep)."""
        observe = self.runtime.observe
        if observe is None:
            return self._run()
        return self._observed(observe)

    async def _observed(self, observe: OperationRunner) -> None:
        await observe(self, self._run)

    async def _run(self) -> None:
        # Every stream this operation obtained, closed at the end whatever happens: a
        # client that leaves while on_operation runs must not leak the one execute gave.
        sources: list[AsyncIterator[Any]] = []
        try:
            args = await self._prepare()
            if args is None:
                return
            self.args = args
            # The sharing key, in this frame: most share_key functions are plain.
            share_key = self.options.share_key
            share: Hashable | None = None
            if share_key is not None and self._may_share():
                share = share_key(self.context)
                if is_awaitable(share):
                    share = await share
            if share is not None:
                self._admit()
                key = group_key(share, self.payload)
                after = requested_cursor(self.payload)
                # Parking needs no waiting: done in this frame, the commonest case of all
                # (a coroutine fewer per shared subscription).
                if after is None and self.parking is not None:
                    self._park(key, self.parking)
                else:
                    await self._run_shared(key, after)
                return
            await self._own_task()
            result = await self._execute(args)
            stream = aiter(result) if isinstance(result, AsyncIterable) else None
            if stream is not None:
                sources.append(stream)
            replaced = await call_hook(
                self.options.on_operation, self.context, self.id, self.payload, args, result
            )
            if replaced:
                result = replaced
                stream = aiter(result) if isinstance(result, AsyncIterable) else None
                if stream is not None:
                    sources.append(stream)
            if stream is not None:
                if self.sink.is_active():
                    await self._stream(stream, args)
            elif self.sink.is_active():
                await self._emit(result, args, streamed=False)
            await self._complete(notify=True)
        except asyncio.CancelledError:
            # The client completed the operation or the connection ended: the
            # reference still calls on_complete, it only sends nothing more.
            with contextlib.suppress(Exception):
                await self._complete(notify=False)
            raise
        except RequestErrors as refused:
            await self._report_errors(refused.errors, ErrorStage.VALIDATION)
        except Exception as error:
            await self.sink.failed(error)
        finally:
            for source in reversed(sources):  # a replacement first, then what it wrapped
                await _close_stream(source)

    async def _prepare(self) -> ExecutionArgs | None:
        """Execution arguments, or ``None`` when errors were already reported."""
        options = self.options
        hook = options.on_subscribe
        # Hooks are called in this frame, not through call_hook's: most are absent or
        # plain functions, and a coroutine per call is what an operation's start costs.
        returned = None if hook is None else hook(self.context, self.id, self.payload)
        if returned is not None and is_awaitable(returned):
            returned = await returned
        if returned is not None:
            if isinstance(returned, list | tuple):
                if returned and all(isinstance(error, GraphQLError) for error in returned):
                    await self._report_errors(list(returned), ErrorStage.REQUEST)
                    return None
                raise ServerError(
                    "Invalid return value from onSubscribe hook, "
                    "expected an array of GraphQLError objects"
                )
            if not isinstance(returned, ExecutionArgs):
                raise ServerError(
                    "Invalid return value from on_subscribe hook, expected ExecutionArgs, "
                    "a list of GraphQLError objects or None"
                )
            args = returned
            operation = operation_of(args)
        else:
            # Parsed and validated in this frame (a coroutine less per operation); only
            # a schema chosen per operation, or errors to report, need waiting.
            parsed = self._parse()
            if isinstance(parsed, GraphQLError):
                await self._report_errors([parsed], ErrorStage.SYNTAX)
                return None
            args, cached = parsed
            if self.runtime.graphql_schema is None:
                await self._choose_schema(args)
            if cached is not None and options.validate is None:
                # The common case, in this frame: validated once per schema and query.
                errors = self.runtime.documents.errors_of(args.schema, cached)
            else:
                errors = self._uncached_validation_errors(args)
            if errors:
                await self._report_errors(errors, ErrorStage.VALIDATION)
                return None
            operation = (
                operation_of(args) if cached is None else cached.operation(args.operation_name)
            )
        if operation is None:
            await self._report_errors(
                [GraphQLError("Unable to identify operation")], ErrorStage.OPERATION
            )
            return None
        self.kind = operation.operation
        args.incremental_delivery = self.incremental_delivery
        if args.root_value is UNSET and options.roots is not None:
            args.root_value = options.roots.get(operation.operation.value)
        if args.context_value is UNSET:
            context = options.context
            if context is default_context:
                # Made only when the operation executes (see _with_context): a shared
                # subscription that joins a running group never needs it. The default is
                # plain and reads nothing that changes meanwhile; the application's own
                # function is called here, as the reference calls it, whatever follows.
                pass
            elif callable(context):
                value = context(self.context, self.id, self.payload, args)
                args.context_value = await value if is_awaitable(value) else value
            else:
                args.context_value = context
        return args

    def _with_context(self, args: ExecutionArgs) -> ExecutionArgs:
        """``args``, with the default context value made if it is still to be (see
        :meth:`_prepare`): called before anything executes with them."""
        if args.context_value is UNSET and self.options.context is default_context:
            args.context_value = default_context(self.context, self.id, self.payload, args)
        return args

    def _parse(self) -> tuple[ExecutionArgs, CachedDocument | None] | GraphQLError:
        """The request's execution arguments (their schema ``None`` when it is chosen
        per operation) and the document cache's entry for its query (``None`` with a
        custom ``parse``); or the syntax error."""
        options = self.options
        if options.schema is None:
            raise ServerError("The GraphQL schema is not provided")
        query: str = self.payload["query"]
        # The cache's entry, looked up once for parsing and validating.
        cached: CachedDocument | None = None
        try:
            if options.parse is not None:
                document = options.parse(query)
            else:
                cached = self.runtime.documents.lookup(query)
                document = cached.document()
        except GraphQLError as error:
            return error
        args = ExecutionArgs(
            # None until chosen (see _choose_schema) when it is chosen per operation.
            schema=cast(GraphQLSchema, self.runtime.graphql_schema),
            document=document,
            variable_values=self.payload.get("variables"),
            operation_name=self.payload.get("operationName"),
        )
        args.execution_context_class = self.runtime.execution_context_class
        return args, cached

    async def _choose_schema(self, args: ExecutionArgs) -> None:
        """The ``schema`` option's function chooses the schema of this operation."""
        dynamic = await call_hook(self.options.schema, self.context, self.id, self.payload, args)
        schema = unwrap_schema(dynamic)
        if schema is None:
            raise ServerError(
                f"The schema function returned {type(dynamic).__name__}, not a schema"
            )
        args.schema = schema

    def _uncached_validation_errors(self, args: ExecutionArgs) -> list[GraphQLError]:
        """The validation errors of a request whose document the cache did not parse
        (a custom ``parse``) or does not validate (a custom ``validate``), the
        operation limits' included."""
        documents = self.runtime.documents
        validate = self.options.validate
        if validate is not None:
            errors = list(validate(args.schema, args.document))
            return errors or documents.limit_errors(args.document)
        return documents.check(args.schema, args.document)

    def _source_of_group(self) -> Callable[[], Awaitable[Any]]:
        """How a shared group started by this operation starts its source: with this
        operation's arguments, which only the group keeps then (a parked member lets go
        of its own)."""
        assert self.args is not None
        args = self._with_context(self.args)
        subscribe = self.runtime.subscribe_function

        async def start() -> Any:
            return await resolve(subscribe(args))

        return start

    async def _own_task(self) -> None:
        """From here on, run in the operation's own task: an operation started inline
        suspends once (its transport gives it a task then), others go straight on."""
        if self.inline:
            self.inline = False
            await _suspend_once()

    def _admit(self) -> OperationType:
        """The operation's type, once the transport's admission let it through."""
        kind = self.kind
        assert kind is not None
        if self.admit is not None:
            self.admit(kind)
        return kind

    async def _execute(self, args: ExecutionArgs) -> Any:
        self._with_context(args)
        kind = self._admit()
        if kind is _SUBSCRIPTION:
            self._start_resume(requested_cursor(self.payload))
            return await resolve(self.runtime.subscribe_function(args))
        return await resolve(self.runtime.execute_function(args))

    def _start_resume(self, after: str | None) -> ResumePoint:
        """Give the subscription's source its resume point: a history broker's
        subscription, opened from this task (an operation executes in a task of its
        own, see :meth:`_own_task`), reads it and starts after ``after``."""
        point = self.resume = ResumePoint(after)
        current_resume.set(point)
        return point

    def _may_share(self) -> bool:
        """Whether this operation asks the ``share_key`` option (when there is one) for
        its sharing key (``None`` from it: the operation runs on its own).

        Only subscriptions share, only on a transport that gave a
        :class:`~gqlwire.sharing.Member`, and only when no per-subscriber hook
        (on_operation, on_next) has to see or change each subscriber's results.
        """
        options = self.options
        return (
            self.member is not None
            and not options.on_operation
            and not options.on_next
            and self.kind is _SUBSCRIPTION
        )

    def _park(self, key: GroupKey, parking: Parking) -> None:
        """Join the group for ``key`` and park (see :class:`Parking`)."""
        assert self.member is not None
        self._parked_group = self.runtime.sharing.enter_told(
            key, self.member, parking, self._source_of_group
        )
        # Nothing reads them any more (the group keeps its starter's): idle members are
        # many, and each held a context value too.
        self.args = None
        options = self.options
        if options.on_error is None and options.on_complete is None:
            # Nor the request (its query text and variables), which only those hooks
            # are given from here on.
            self.payload = _RELEASED_PAYLOAD
        parking.park(self)

    async def _run_shared(self, key: GroupKey, after: str | None) -> None:
        """A shared subscription that does not park: it waits for its group in its task
        (a transport without :class:`Parking`, or instruments that observe it), or
        resumes ``after`` a cursor."""
        assert self.member is not None and self.args is not None
        sharing = self.runtime.sharing
        if after is None:
            group, done = sharing.enter(key, self.member, self._source_of_group)
            try:
                ended = await done
            finally:
                await sharing.leave(group, self.member)
        else:
            await self._own_task()
            membership = await self._catch_up_alone(key, after)
            if membership is None:
                return
            ended = await membership
        await self._report_end(ended)

    async def end_parked(self, ended: GroupEnd | None) -> None:
        """The rest of a parked shared subscription (see :class:`Parking`), in its new
        task: as :meth:`_run` would have ended it. ``ended``: how its group ended for
        it, or ``None`` when it was cancelled (the client left)."""
        group = self._parked_group
        assert self.member is not None and group is not None
        try:
            try:
                if ended is None:
                    # Where the wait for the group was: what a task waiting there sees.
                    raise asyncio.CancelledError
            finally:
                await self.runtime.sharing.leave(group, self.member)
            await self._report_end(ended)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await self._complete(notify=False)
            raise
        except Exception as error:
            await self.sink.failed(error)

    async def _report_end(self, ended: GroupEnd) -> None:
        """How the group ended, in this operation's protocol, then the end."""
        if ended.result is not None:
            if self.sink.is_active():
                await self.sink.next(ended.result)
        elif ended.errors is not None:
            await self._report_errors(ended.errors, ErrorStage.STREAM)
        await self._complete(notify=True)

    async def _catch_up_alone(self, key: GroupKey, after: str) -> Awaitable[GroupEnd] | None:
        """A shared subscription resumed after a cursor: run its own source from there
        until the group has reached the same event, then join the group after it (so
        every live event is still executed once for all). ``None`` when the operation
        ended on its own (its source ended first, or the group never caught up)."""
        assert self.member is not None and self.args is not None
        sharing = self.runtime.sharing
        async with sharing.holding(key, self._source_of_group) as group:
            if group.resumable is False:
                # The group's source (the same subscription) has no history: the cursor
                # means nothing to it, and the member joins as one without a cursor.
                joined_now = sharing.join(group, self.member)
                if joined_now is not None:
                    return joined_now
            point = self._start_resume(after)
            result = await resolve(self.runtime.subscribe_function(self._with_context(self.args)))
            if not isinstance(result, AsyncIterable):
                if self.sink.is_active():
                    await self._emit(result, self.args, streamed=False)
                await self._complete(notify=True)
                return None
            stream = aiter(result)
            joined: Coroutine[Any, Any, GroupEnd] | None = None
            try:
                while self.sink.is_active():
                    cursor = point.cursor
                    if cursor is not None:
                        joined = sharing.join_after(group, self.member, cursor)
                        if joined is not None:
                            self.resume = None  # the group's results carry its cursors
                            break
                    try:
                        item = await anext(stream)
                    except StopAsyncIteration:
                        break
                    except Exception as error:
                        await self._report_errors([source_error(error)], ErrorStage.STREAM)
                        await self._complete(notify=True)
                        return None
                    if self.sink.is_active():
                        await self._emit(item, self.args, streamed=True)
            finally:
                try:
                    await _close_stream(stream)
                except BaseException:
                    # Left (or failed) after joining, before awaiting the membership:
                    # leave the group, or it would hold this member forever.
                    if joined is not None:
                        joined.close()
                        await sharing.leave(group, self.member)
                    raise
            if joined is not None:
                return joined
        await self._complete(notify=True)
        return None

    async def _stream(self, stream: AsyncIterator[Any], args: ExecutionArgs) -> None:
        while True:
            try:
                item = await anext(stream)
            except StopAsyncIteration:
                return
            except RequestErrors:
                raise
            except Exception as error:
                # The source failed mid-stream: an `error` for this operation only;
                # the socket stays open (graphql-ws 6.0.8).
                await self._report_errors([source_error(error)], ErrorStage.STREAM)
                return
            if not self.sink.is_active():
                return
            await self._emit(item, args, streamed=True)

    async def _emit(self, result: Any, args: ExecutionArgs, *, streamed: bool) -> None:
        # Formatted even when on_next replaces it: formatting logs the resolvers'
        # exceptions, which happened whatever the hook sends instead.
        if isinstance(result, ExecutionResult):
            payload = format_result(
                result,
                include_data=self._data_expected(result, args, streamed),
                mask=self.options.mask_errors,
            )
        elif is_incremental_result(result):
            payload = format_incremental_result(result, mask=self.options.mask_errors)
        elif isinstance(result, dict):
            payload = result  # an already formatted result from a custom execute
        else:
            payload = None
        replaced = await call_hook(
            self.options.on_next, self.context, self.id, self.payload, args, result
        )
        if replaced:
            payload = replaced
        elif payload is None:
            raise ServerError(f"An operation produced {type(result).__name__}, not a result")
        point = self.resume
        if point is not None and point.started and isinstance(payload, dict):
            # After on_next: a result it replaced names its event too, and a gap notice
            # taken from the point is never lost with the result it replaced.
            payload = with_resume_extensions(payload, point)
        await self.sink.next(payload)

    @staticmethod
    def _data_expected(result: ExecutionResult, args: ExecutionArgs, streamed: bool) -> bool:
        # graphql-js omits `data` when the operation never ran (bad variables, or a
        # subscription that failed to start); graphql-core always gives data=None.
        if result.data is not None or not result.errors or streamed:
            return True
        operation = operation_of(args)
        if operation is not None and operation.operation is OperationType.SUBSCRIPTION:
            return False
        return not coercion_failed(args)

    async def _report_errors(self, errors: list[GraphQLError], stage: ErrorStage) -> None:
        if stage is not ErrorStage.SYNTAX and not self.sink.is_active():
            return
        formatted = await call_hook(
            self.options.on_error, self.context, self.id, self.payload, errors
        )
        if not formatted:
            # Only a failed source's errors are masked: those of the other stages are
            # the request's (a custom scalar may refuse a literal with a ValueError).
            mask = self.options.mask_errors and stage is ErrorStage.STREAM
            formatted = format_errors(errors, mask=mask)
        await self.sink.errors(formatted, stage)

    async def _complete(self, *, notify: bool) -> None:
        if self._completed:
            return
        self._completed = True
        await call_hook(self.options.on_complete, self.context, self.id, self.payload)
        if notify:
            await self.sink.complete()


@types.coroutine
def _suspend_once() -> Generator[None, None, None]:
    """Yield to the event loop once (what ``asyncio.sleep(0)`` does)."""
    yield


async def _close_stream(stream: AsyncIterator[Any]) -> None:
    """Let the source run its cleanup (its ``finally``), whatever ended the stream."""
    aclose = getattr(stream, "aclose", None)
    if aclose is None:
        return
    # RuntimeError "aclose(): asynchronous generator is already running": the source is
    # being closed by the cancellation that ended us, which runs its cleanup anyway.
    with contextlib.suppress(RuntimeError):
        await aclose()
