//! A bare wasmtime embedding of the same contract, for benchmarks: the
//! host's engine and `bindgen!` types, but no limits, grants, log capture,
//! conversions or result checks. Comparing it with [`crate::Plugin::run`]
//! gives the host's per-step overhead.

use std::path::Path;

use wasmtime::Store;
use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::bindings::FullStepPre;
use crate::bindings::switchyard::plugin::{log, types};
use crate::error::PluginError;
use crate::model::StepInput;
use crate::{PluginHost, bindings::wit};

/// Store data of the bare embedding.
pub struct RawState {
    wasi: WasiCtx,
    table: ResourceTable,
}

impl WasiView for RawState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl types::Host for RawState {}

impl log::Host for RawState {
    async fn log(&mut self, _level: log::Level, _message: String) -> wasmtime::Result<()> {
        Ok(())
    }
}

/// A pure-step component pre-linked in the bare embedding.
pub struct RawPlugin {
    pre: FullStepPre<RawState>,
    input: wit::StepInput,
}

impl RawPlugin {
    /// Compiles a pure-step component with the host's engine and links it
    /// to WASI and `log` only; `input` is converted once, up front.
    pub fn new(host: &PluginHost, wasm: &[u8], input: &StepInput) -> Result<RawPlugin, PluginError> {
        let compiled = host.compile(wasm, Path::new("<raw>"))?;
        let mut linker: Linker<RawState> = Linker::new(host.engine());
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(PluginError::engine)?;
        types::add_to_linker::<RawState, HasSelf<RawState>>(&mut linker, |s| s).map_err(PluginError::engine)?;
        log::add_to_linker::<RawState, HasSelf<RawState>>(&mut linker, |s| s).map_err(PluginError::engine)?;
        let pre = linker.instantiate_pre(&compiled.component).map_err(PluginError::engine)?;
        let pre = FullStepPre::new(pre).map_err(PluginError::engine)?;
        Ok(RawPlugin { pre, input: input.into() })
    }

    fn store(&self) -> Store<RawState> {
        let state = RawState { wasi: WasiCtx::builder().build(), table: ResourceTable::new() };
        let mut store = Store::new(self.pre.engine(), state);
        store.set_epoch_deadline(u64::MAX / 2);
        store
    }

    /// Instantiates only.
    pub async fn instantiate(&self) -> Result<(), PluginError> {
        let mut store = self.store();
        self.pre.instantiate_async(&mut store).await.map_err(PluginError::engine)?;
        Ok(())
    }

    /// Instantiates and calls `run`; returns the number of actions.
    pub async fn instantiate_and_run(&self) -> Result<usize, PluginError> {
        let mut store = self.store();
        let instance = self.pre.instantiate_async(&mut store).await.map_err(PluginError::engine)?;
        let result = instance.call_run(&mut store, &self.input).await.map_err(PluginError::engine)?;
        Ok(result.map(|r| r.actions.len()).unwrap_or(0))
    }
}
