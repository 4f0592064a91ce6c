//! `parallel(items, body)`: a playbook's closure called for many items at once, on the
//! runtime's blocking pool, each call on its own copy of the evaluation state.

use std::sync::Arc;

use rhai::{Array, Dynamic, EvalAltResult, FnPtr, NativeCallContext};

use crate::context::PlayContext;

const PARALLEL_LIMIT: usize = 8;

/// Runs the closure on up to PARALLEL_LIMIT threads of the runtime's blocking pool, each taking
/// the next item as it finishes one; each gets its own copy of the caller's evaluation state and
/// of what the closure captured (see `private_copy`). Pool threads outlive the call, so a play's
/// steps do not each start (and tear down) threads.
#[allow(deprecated)] // Rhai marks the context store "volatile", not deprecated.
pub(crate) fn run(
    ctx: &PlayContext,
    call: &NativeCallContext,
    items: Array,
    body: FnPtr,
) -> Result<Array, Box<EvalAltResult>> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;
    type Slot = Mutex<Option<Result<Dynamic, Box<EvalAltResult>>>>;
    struct Work {
        items: Array,
        next: AtomicUsize,
        results: Vec<Slot>,
        /// What the results hold so far; a plain loop collecting them fails at the same size.
        size: Mutex<crate::bounds::DataSize>,
        /// Set once the results went over a limit: no further item is started.
        over_limit: Mutex<Option<String>>,
    }
    let internal = |what: &str| {
        crate::engine::convert::throw(crate::error::HostError::new(format!(
            "internal error: {what}"
        )))
    };
    let engine = ctx
        .engine()
        .ok_or_else(|| internal("parallel() ran without the play's engine"))?;
    let workers = items.len().min(PARALLEL_LIMIT);
    let work = Arc::new(Work {
        results: items.iter().map(|_| Mutex::new(None)).collect(),
        items,
        next: AtomicUsize::new(0),
        size: Mutex::new(crate::bounds::DataSize::default()),
        over_limit: Mutex::new(None),
    });
    let store = call.store_data();
    let handles: Vec<_> = (0..workers)
        .map(|_| {
            let (engine, store, body, work) = (
                engine.clone(),
                store.clone(),
                private_copy(&body),
                work.clone(),
            );
            ctx.runtime.spawn_blocking(move || {
                let context = store.create_context(&engine);
                loop {
                    if work.over_limit.lock().map_or(true, |over| over.is_some()) {
                        break;
                    }
                    let index = work.next.fetch_add(1, Ordering::SeqCst);
                    let Some(item) = work.items.get(index) else {
                        break;
                    };
                    let item = item.flatten_clone();
                    let result = body.call_within_context::<Dynamic>(&context, (item,));
                    if let Ok(value) = &result {
                        let grown = crate::bounds::DataSize::of(value);
                        if let Ok(mut size) = work.size.lock() {
                            size.array_items += 1;
                            size.add(grown);
                            if let Some(what) = size.exceeded(&engine) {
                                if let Ok(mut over) = work.over_limit.lock() {
                                    over.get_or_insert(what);
                                }
                            }
                        }
                    }
                    if let Ok(mut slot) = work.results[index].lock() {
                        *slot = Some(result);
                    }
                }
            })
        })
        .collect();
    let joined = ctx.runtime.block_on(futures::future::join_all(handles));
    if joined.iter().any(Result::is_err) {
        return Err(internal("a parallel task stopped unexpectedly"));
    }
    if let Some(what) = work.over_limit.lock().ok().and_then(|mut over| over.take()) {
        return Err(crate::engine::convert::throw(
            crate::error::HostError::new(format!(
                "parallel(): the results grew past {what}; stopped after {} of {} calls",
                work.results
                    .iter()
                    .filter(|slot| slot.lock().is_ok_and(|s| s.is_some()))
                    .count(),
                work.items.len()
            ))
            .with_hint("return less from each call, or process the items in smaller batches"),
        ));
    }
    work.results
        .iter()
        .map(|slot| {
            slot.lock()
                .ok()
                .and_then(|mut slot| slot.take())
                .unwrap_or_else(|| Err(internal("a parallel task did not finish")))
        })
        .collect()
}

/// The closure with its captured variables copied out of their shared cells. Rhai keeps a
/// captured variable behind a lock; a thread that finds it taken (a method call holds it for the
/// whole call) sleeps 10 ms and retries, and after five tries fails with "Data race detected".
/// Copies are never contended, so workers neither stall nor fail on each other.
fn private_copy(body: &FnPtr) -> FnPtr {
    let mut copy = body.clone();
    let captured: Vec<Dynamic> = copy.iter_curry().map(Dynamic::flatten_clone).collect();
    copy.set_curry(captured);
    copy
}
