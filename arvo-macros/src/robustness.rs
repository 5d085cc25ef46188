//! No input panics a macro: every macro's `run` is given valid attribute and item tokens with
//! one token at a time deleted, doubled, made a raw identifier, or replaced by an odd literal or
//! keyword, at every depth. A panic would reach the user as "custom attribute panicked" with
//! no place in their code; each mistake must instead be an error at its token (or compile).
//!
//! This is how `r#loop` (a state), `r#Flow` (a resumable) and versions past `u64` were found.

use proc_macro2::{Delimiter, Group, Ident, Literal, Punct, Spacing, Span, TokenStream, TokenTree};
use quote::quote;

/// One macro's entry point, as the proc-macro shell calls it.
type Run = fn(TokenStream, TokenStream) -> TokenStream;

fn contract(args: TokenStream, item: TokenStream) -> TokenStream {
    crate::expand::run(args, item).into_token_stream()
}

/// Identifiers that cannot be raw.
const NOT_RAW: &[&str] = &["self", "Self", "super", "crate", "_"];

/// The replacements tried for each token.
fn odd_tokens() -> Vec<TokenTree> {
    let mut out: Vec<TokenTree> = [
        "",
        "0.0.0",
        "1.0",
        "1.18446744073709551616.0",
        "a b",
        "r#x",
        "#/a b",
        "com.é.x",
        "\u{0}",
    ]
    .iter()
    .map(|s| TokenTree::Literal(Literal::string(s)))
    .collect();
    out.push(TokenTree::Literal(Literal::u64_unsuffixed(1)));
    out.push(TokenTree::Literal(Literal::f64_unsuffixed(1.5)));
    out.push(TokenTree::Literal(Literal::i64_suffixed(-1)));
    out.push(TokenTree::Literal(Literal::byte_string(b"1.0.0")));
    out.push(TokenTree::Literal(Literal::character('x')));
    for word in [
        "self", "crate", "type", "fn", "Self", "_", "version", "state", "on",
    ] {
        out.push(TokenTree::Ident(Ident::new(word, Span::call_site())));
    }
    out.push(TokenTree::Ident(Ident::new_raw("match", Span::call_site())));
    out.push(TokenTree::Punct(Punct::new(',', Spacing::Alone)));
    out.push(TokenTree::Punct(Punct::new('=', Spacing::Alone)));
    out.push(TokenTree::Group(Group::new(
        Delimiter::Parenthesis,
        TokenStream::new(),
    )));
    out
}

/// Every one-token mutation of `stream`, at every depth.
fn mutations(stream: &TokenStream, odd: &[TokenTree]) -> Vec<TokenStream> {
    let tokens: Vec<TokenTree> = stream.clone().into_iter().collect();
    let mut out = Vec::new();
    let with = |i: usize, replacement: Vec<TokenTree>| -> TokenStream {
        let mut t = tokens[..i].to_vec();
        t.extend(replacement);
        t.extend(tokens[i + 1..].iter().cloned());
        t.into_iter().collect()
    };
    for (i, token) in tokens.iter().enumerate() {
        out.push(with(i, vec![]));
        out.push(with(i, vec![token.clone(), token.clone()]));
        for o in odd {
            out.push(with(i, vec![o.clone()]));
        }
        match token {
            TokenTree::Ident(id) => {
                let s = id.to_string();
                if !s.starts_with("r#") && !NOT_RAW.contains(&s.as_str()) {
                    out.push(with(
                        i,
                        vec![TokenTree::Ident(Ident::new_raw(&s, id.span()))],
                    ));
                }
            }
            TokenTree::Group(g) => {
                for inner in mutations(&g.stream(), odd) {
                    let mut group = Group::new(g.delimiter(), inner);
                    group.set_span(g.span());
                    out.push(with(i, vec![TokenTree::Group(group)]));
                }
            }
            _ => {}
        }
    }
    out
}

/// Every identifier of `stream`, at every depth, once each (so a mutation can put one name
/// where another stood: a state for a guard, a service key for a state, ...).
fn identifiers(stream: &TokenStream, out: &mut Vec<TokenTree>) {
    for token in stream.clone() {
        match &token {
            TokenTree::Ident(id) if !out.iter().any(|t| *id == t.to_string()) => {
                out.push(token.clone());
            }
            TokenTree::Group(g) => identifiers(&g.stream(), out),
            _ => {}
        }
    }
}

/// Runs `run` on `(args, item)` and on every mutation of either; the inputs that panicked.
fn panics(run: Run, args: TokenStream, item: TokenStream) -> Vec<String> {
    let mut odd = odd_tokens();
    identifiers(&args, &mut odd);
    identifiers(&item, &mut odd);
    let mut cases: Vec<(TokenStream, TokenStream)> = vec![(args.clone(), item.clone())];
    cases.extend(
        mutations(&args, &odd)
            .into_iter()
            .map(|a| (a, item.clone())),
    );
    cases.extend(
        mutations(&item, &odd)
            .into_iter()
            .map(|i| (args.clone(), i)),
    );
    quiet_on_this_thread(true);
    let failed = cases
        .into_iter()
        .filter(|(a, i)| {
            let (a, i) = (a.clone(), i.clone());
            std::panic::catch_unwind(move || run(a, i)).is_err()
        })
        .map(|(a, i)| format!("#[..({a})] {i}"))
        .collect();
    quiet_on_this_thread(false);
    failed
}

thread_local! {
    static QUIET: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether panics on this thread are printed: the panics looked for here are not, while the
/// other tests, on other threads, print theirs. (Swapping the process's hook for each test
/// raced with the others: one could restore another's silent hook for good.)
fn quiet_on_this_thread(quiet: bool) {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !QUIET.with(std::cell::Cell::get) {
                default(info);
            }
        }));
    });
    QUIET.with(|q| q.set(quiet));
}

fn assert_no_panic(run: Run, args: TokenStream, item: TokenStream) {
    let failed = panics(run, args, item);
    assert!(
        failed.is_empty(),
        "{} inputs panicked, the first:\n{}",
        failed.len(),
        failed
            .iter()
            .take(5)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn contracts_never_panic() {
    assert_no_panic(
        contract,
        quote!(uri = "#/greet", type = "com.greet.user", domains("d"),
            version("1.0.0", accepts = Greet, emits("evt.greet.hello" = Greeting as Hello)),
            version("2.0.0", accepts = Vec<Greet>, emits("evt.greet.bye" = Greeting))),
        quote!(
            pub struct GreetTwo;
        ),
    );
    assert_no_panic(
        contract,
        quote!(
            uri = "#/welcome",
            orchestrator = "welcome",
            version("1.0.0", init = Greet, complete = Greeting)
        ),
        quote!(
            pub(crate) struct Welcome;
        ),
    );
    assert_no_panic(
        contract,
        quote!(uri = "#/g", type = "greet.user", simple, version("1.0.0", accepts = Greet, emits = Greeting)),
        quote!(
            struct G;
        ),
    );
}

#[test]
fn handlers_never_panic() {
    assert_no_panic(
        crate::handler_expand::run,
        quote!(contract = a::Greet, version = "1.0.0", register = false),
        quote! {
            async fn greet(input: Greet) -> Result<GreetV1_0_0Emits, HandlerError> {
                Ok(GreetV1_0_0Emits::Success(Greeting { text: input.name }))
            }
        },
    );
    assert_no_panic(
        crate::handler_expand::run,
        quote!(contract = GreetTwo, register),
        quote! {
            impl Greeter {
                #[version("1.0.0")]
                async fn v1(&self, input: Input<'_, GreetTwoV1_0_0>) -> HandlerOutput<GreetTwoV1_0_0> { todo!() }
                #[version("2.0.0")]
                fn v2(input: Vec<Greet>) -> Result<Emission<GreetTwoV2_0_0Emits>, E> { todo!() }
            }
        },
    );
}

#[test]
fn resumables_never_panic() {
    assert_no_panic(
        crate::resumable_expand::run,
        quote!(
            contract = Welcome,
            context = Ctx,
            services(greet = GreetV1_0_0, value_read = a::ReadV1_0_0)
        ),
        quote! {
            impl WelcomeFlow {
                #[version("1.0.0")]
                async fn v1(&self, step: WelcomeFlowStep<'_, WelcomeV1_0_0>) -> WelcomeFlowResult<WelcomeV1_0_0> {
                    Ok(Outcome::wait())
                }
            }
        },
    );
}

#[test]
fn machines_never_panic() {
    assert_no_panic(
        crate::machine_expand::run,
        quote!(
            contract = Counter,
            version = "1.0.0",
            context = Ctx,
            services(inc = IncrementV1_0_0, audit = AuditV1_0_0)
        ),
        quote! {
            impl CounterMachine {
                #[context]
                fn start(&self, init: &Delta) -> Ctx { todo!() }
                #[output]
                fn done(&self, ctx: &Ctx) -> Value { todo!() }
                #[state(initial)]
                #[on(inc::Success, target = auditing, guard = too_big, actions(store))]
                #[on(inc::Success, target = finished, actions(store))]
                #[on(inc::SystemError, target = failed)]
                fn incrementing(&self, cx: &mut CounterMachineAction<'_>) -> Result<(), HandlerError> { todo!() }
                #[state(entry(store), exit(store))]
                #[on(audit::EvtNumberAuditOk, target = finished)]
                #[always(target = failed, guard = too_big)]
                fn auditing(&self) {}
                #[state(parallel)]
                #[on_done(target = finished)]
                fn both(&self) {}
                #[state(parent = both, initial)]
                fn left(&self) {}
                #[state(parent = left, initial, final)]
                fn left_done(&self) {}
                #[state(parent = both)]
                fn right(&self) {}
                #[state(parent = right, initial, final)]
                fn right_done(&self) {}
                #[state(final)]
                fn finished(&self) {}
                #[state(final)]
                fn failed(&self) {}
                #[guard]
                fn too_big(&self, _ctx: &Ctx, answer: &Value) -> bool { todo!() }
                #[action]
                fn store(&self, cx: &mut CounterMachineAction<'_>, answer: &Value) {}
            }
        },
    );
}
