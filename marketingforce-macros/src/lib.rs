//! # marketingforce-macros
//!
//! The `#[operation]` attribute of the Marketingforce SDK. Use it through
//! `marketingforce_core::telemetry::operation`, whose documentation explains what it records;
//! this crate only rewrites the method.
//!
//! ```text
//! #[operation("crm.capture", tenant = self.tenant, key = key)]
//! pub async fn capture(&self, request: CaptureRequest, key: IdempotencyKey) -> Result<Captured> {
//!     /* body, untouched */
//! }
//! ```
//!
//! becomes a method that opens a `debug` span named after the operation (fields `operation`,
//! `tenant`, `key_hash`, and `outcome`, `error.kind`, `error.code` once the body has answered),
//! runs the unchanged body inside it, and hands the result to
//! `marketingforce_core::telemetry::__private::finish` (which classifies it with `Classify`,
//! never with `Display`, and counts it when the `metrics` feature is on). An optional
//! `observe = path` names a function `fn(&ReturnType, Option<&str>)` called with the result
//! and the tenant label (present only when the operator opted in), for the domain counters of
//! that operation.

#![deny(missing_docs)]
#![forbid(unsafe_code)]

use proc_macro::TokenStream;
use proc_macro2::TokenStream as TokenStream2;
use quote::{quote, quote_spanned};
use syn::parse::{Parse, ParseStream};
use syn::spanned::Spanned;
use syn::{parse_macro_input, Expr, Ident, ItemFn, LitStr, ReturnType, Token};

/// Arguments: `"operation.name"` then any of `tenant = <expr>`, `key = <expr>`,
/// `level = "debug" | "trace" | "info"`, `observe = <path>`.
struct Args {
    name: LitStr,
    tenant: Option<Expr>,
    key: Option<Expr>,
    level: Option<LitStr>,
    observe: Option<Expr>,
}

impl Parse for Args {
    fn parse(input: ParseStream<'_>) -> syn::Result<Args> {
        let name: LitStr = input.parse()?;
        let mut args = Args {
            name,
            tenant: None,
            key: None,
            level: None,
            observe: None,
        };
        while !input.is_empty() {
            input.parse::<Token![,]>()?;
            if input.is_empty() {
                break;
            }
            let ident: Ident = input.parse()?;
            input.parse::<Token![=]>()?;
            match ident.to_string().as_str() {
                "tenant" => args.tenant = Some(input.parse()?),
                "key" => args.key = Some(input.parse()?),
                "level" => args.level = Some(input.parse()?),
                "observe" => args.observe = Some(input.parse()?),
                other => {
                    return Err(syn::Error::new(
                        ident.span(),
                        format!(
                            "unknown argument `{other}` (expected tenant, key, level or observe)"
                        ),
                    ))
                }
            }
        }
        Ok(args)
    }
}

/// Gives a service method its span, outcome and metrics; see
/// `marketingforce_core::telemetry::operation` for the documentation.
#[proc_macro_attribute]
pub fn operation(attr: TokenStream, item: TokenStream) -> TokenStream {
    let args = parse_macro_input!(attr as Args);
    let function = parse_macro_input!(item as ItemFn);
    match expand(args, function) {
        Ok(tokens) => tokens.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

fn expand(args: Args, function: ItemFn) -> syn::Result<TokenStream2> {
    let ItemFn {
        attrs,
        vis,
        sig,
        block,
    } = function;
    let ReturnType::Type(_, output) = &sig.output else {
        return Err(syn::Error::new(
            sig.span(),
            "#[operation] needs a method that returns a Result",
        ));
    };
    let krate = quote!(::marketingforce_core::telemetry::__private);
    let name = &args.name;
    let level = match args.level.as_ref().map(LitStr::value).as_deref() {
        None | Some("debug") => quote!(#krate::tracing::Level::DEBUG),
        Some("trace") => quote!(#krate::tracing::Level::TRACE),
        Some("info") => quote!(#krate::tracing::Level::INFO),
        Some(other) => {
            return Err(syn::Error::new(
                args.level.span(),
                format!("unknown level `{other}` (expected trace, debug or info)"),
            ))
        }
    };
    let tenant_field = match &args.tenant {
        Some(t) => quote!(tenant = #krate::tracing::field::display(&#t),),
        None => quote!(),
    };
    let key_field = match &args.key {
        Some(k) => quote!(key_hash = #krate::tracing::field::display(#krate::KeyHash::of(&#k)),),
        None => quote!(),
    };
    let tenant_label = match &args.tenant {
        Some(t) => quote!(#krate::tenant_label(&#t)),
        None => quote!(::core::option::Option::None),
    };
    let observe = match &args.observe {
        Some(path) => quote_spanned!(path.span()=> (#path)(&__mf_result, __mf_probe.tenant());),
        None => quote!(),
    };
    let run = if sig.asyncness.is_some() {
        quote! {
            #krate::Instrument::instrument(async move #block, ::core::clone::Clone::clone(&__mf_span)).await
        }
    } else {
        quote! {
            __mf_span.in_scope(move || #block)
        }
    };
    Ok(quote! {
        #(#attrs)*
        #vis #sig {
            let __mf_span = #krate::tracing::span!(
                target: ::core::module_path!(),
                #level,
                #name,
                operation = #name,
                #tenant_field
                #key_field
                outcome = #krate::tracing::field::Empty,
                error.kind = #krate::tracing::field::Empty,
                error.code = #krate::tracing::field::Empty,
            );
            let __mf_probe = #krate::Probe::start(#name, #tenant_label);
            #[allow(clippy::needless_question_mark, clippy::redundant_closure_call)]
            let __mf_result: #output = #run;
            #krate::finish(&__mf_probe, &__mf_span, &__mf_result);
            #observe
            __mf_result
        }
    })
}
