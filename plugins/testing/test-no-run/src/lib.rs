//! A component that claims to be a Switchyard plugin but does not export
//! `run`; the host must refuse it.

#![allow(missing_docs)]

mod bindings {
    wit_bindgen::generate!({
        inline: "
            package switchyard:plugin@0.1.0;
            world no-run {
                export validate-config: func(config: string) -> result<_, list<string>>;
            }
        ",
    });
}

struct Component;

impl bindings::Guest for Component {
    fn validate_config(_config: String) -> Result<(), Vec<String>> {
        Ok(())
    }
}

bindings::export!(Component with_types_in bindings);
