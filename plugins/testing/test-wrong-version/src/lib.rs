//! A component built against a future contract version
//! (`switchyard:plugin@0.2.0`); the 0.1 host must refuse it.

#![allow(missing_docs)]

mod bindings {
    wit_bindgen::generate!({
        inline: "
            package switchyard:plugin@0.2.0;
            interface log {
                log: func(message: string);
            }
            world future-step {
                import log;
                export validate-config: func(config: string) -> result<_, list<string>>;
                export run: func(input: string) -> result<string, string>;
            }
        ",
    });
}

struct Component;

impl bindings::Guest for Component {
    fn validate_config(_config: String) -> Result<(), Vec<String>> {
        Ok(())
    }

    fn run(input: String) -> Result<String, String> {
        bindings::switchyard::plugin::log::log(&input);
        Ok(input)
    }
}

bindings::export!(Component with_types_in bindings);
