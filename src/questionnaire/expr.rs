//! Expressions in `when` and `show_if`: CEL (the `cel` crate), parsed and type-checked at
//! load time. CEL is small, side-effect free and always terminates, which is what a file an
//! administrator edits must be limited to.
//!
//! The `cel` crate has no checker of its own, so `check` walks the parsed tree: it resolves
//! every name against the questionnaire's items and scores, and infers enough of the types to
//! refuse what can never work (a number where a condition belongs, `q1 + total` mixing a whole
//! number with a decimal, comparing a number with a string, unknown functions).

use std::fmt;
use std::sync::Arc;

use cel::common::ast::{Expr as Ast, LiteralValue, operators};
use cel::common::types::{CelDouble, CelInt, CelNull};
use cel::common::value::CowVal;
use cel::context::VariableResolver;
use cel::{Context, Env, IdedExpr, Program, Value};
use serde::Serialize;

/// A compiled expression, with the text it came from.
#[derive(Clone)]
pub struct Expr {
    source: Arc<str>,
    program: Arc<Program>,
}

impl fmt::Debug for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Expr({:?})", self.source)
    }
}

impl Serialize for Expr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.source)
    }
}

/// What a name in an expression stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Var {
    /// An item: its raw answer, an int, or null when unanswered or not asked.
    Item,
    /// A score: a double, or null when incomplete.
    Score,
}

/// A problem in an expression, at a character offset within its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ExprError {
    pub(crate) offset: usize,
    pub(crate) message: String,
}

/// The outcome of evaluating a condition.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Eval {
    True,
    False,
    /// The expression failed at run time (for example `null >= 1`) or was not a boolean.
    Error(String),
}

/// The environment a questionnaire's expressions compile and run in (CEL's standard library).
#[derive(Clone)]
pub(crate) struct ExprEnv(Arc<Env>);

impl fmt::Debug for ExprEnv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ExprEnv")
    }
}

pub(crate) fn new_env() -> ExprEnv {
    ExprEnv(Arc::new(Env::stdlib()))
}

impl Expr {
    /// Parses and checks `source`. `lookup` says what a name refers to (`None`: unknown), and
    /// `unknown_hint` explains, for an unknown name, why it is not available.
    pub(crate) fn compile(
        env: &ExprEnv,
        source: &str,
        lookup: &dyn Fn(&str) -> Option<Var>,
        unknown_hint: &dyn Fn(&str) -> String,
    ) -> Result<Expr, Vec<ExprError>> {
        let program = env.0.compile(source).map_err(|errs| {
            errs.errors
                .iter()
                .map(|e| ExprError {
                    offset: char_offset_of(source, e.pos.0, e.pos.1),
                    message: format!("expression does not parse: {}", clean_parse_message(&e.msg)),
                })
                .collect::<Vec<_>>()
        })?;
        let mut checker = Checker {
            program: &program,
            lookup,
            unknown_hint,
            locals: Vec::new(),
            errors: Vec::new(),
        };
        let root = program.expression();
        let ty = checker.walk(root);
        if !matches!(ty, Ty::Bool | Ty::Dyn) {
            let offset = checker.offset(root);
            checker.errors.push(ExprError {
                offset,
                message: format!(
                    "a condition must be true or false, but this expression is {}",
                    ty.describe()
                ),
            });
        }
        if !checker.errors.is_empty() {
            return Err(checker.errors);
        }
        Ok(Expr {
            source: source.into(),
            program: Arc::new(program),
        })
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// Evaluates the expression with names resolved by `vars`.
    pub(crate) fn eval(&self, env: &ExprEnv, vars: &dyn Lookup) -> Eval {
        let resolver = Resolver(vars);
        let mut ctx = Context::with_env(Arc::clone(&env.0));
        ctx.set_variable_resolver(&resolver);
        match self.program.execute(&ctx) {
            Ok(Value::Bool(true)) => Eval::True,
            Ok(Value::Bool(false)) => Eval::False,
            Ok(other) => Eval::Error(format!("the condition gave {other:?}, not true or false")),
            Err(e) => Eval::Error(e.to_string()),
        }
    }
}

/// A value a name can take when an expression runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Binding {
    Int(i64),
    Double(f64),
    Null,
}

/// Resolves names to values during evaluation; `None` means the name is not bound.
pub(crate) trait Lookup: Sync {
    fn lookup(&self, name: &str) -> Option<Binding>;
}

struct Resolver<'a>(&'a dyn Lookup);

impl VariableResolver for Resolver<'_> {
    fn resolve<'b>(&'b self, variable: &str) -> Option<CowVal<'b, 'b>> {
        let val: Box<dyn cel::common::value::Val> = match self.0.lookup(variable)? {
            Binding::Int(v) => Box::new(CelInt::from(v)),
            Binding::Double(v) => Box::new(CelDouble::from(v)),
            Binding::Null => Box::new(CelNull),
        };
        Some(CowVal::Owned(val))
    }
}

/// CEL reports (line, column) with a 1-based line and 1-based column.
fn char_offset_of(source: &str, line: isize, col: isize) -> usize {
    let line = usize::try_from(line.max(1)).unwrap_or(1);
    let col = usize::try_from(col.max(1)).unwrap_or(1);
    let before: usize = source
        .split_inclusive('\n')
        .take(line - 1)
        .map(|l| l.chars().count())
        .sum();
    before + col - 1
}

fn clean_parse_message(msg: &str) -> String {
    msg.trim_start_matches("Syntax error: ").to_string()
}

/// The types the checker tells apart. `Dyn` is "could be anything": no complaint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ty {
    Int,
    Double,
    Bool,
    Str,
    Null,
    List,
    Dyn,
}

impl Ty {
    fn describe(self) -> &'static str {
        match self {
            Ty::Int => "a whole number",
            Ty::Double => "a decimal number",
            Ty::Bool => "true or false",
            Ty::Str => "a string",
            Ty::Null => "null",
            Ty::List => "a list",
            Ty::Dyn => "a value",
        }
    }

    fn numeric(self) -> bool {
        matches!(self, Ty::Int | Ty::Double | Ty::Dyn)
    }
}

struct Checker<'a> {
    program: &'a Program,
    lookup: &'a dyn Fn(&str) -> Option<Var>,
    unknown_hint: &'a dyn Fn(&str) -> String,
    /// Names bound by comprehensions (`[q1, q2].exists(x, x > 1)`).
    locals: Vec<String>,
    errors: Vec<ExprError>,
}

impl Checker<'_> {
    fn offset(&self, e: &IdedExpr) -> usize {
        self.program
            .source_info()
            .offset_for(e.id)
            .map_or(0, |(start, _)| start as usize)
    }

    fn error(&mut self, e: &IdedExpr, message: String) {
        let offset = self.offset(e);
        self.errors.push(ExprError { offset, message });
    }

    fn walk(&mut self, e: &IdedExpr) -> Ty {
        match &e.expr {
            Ast::Ident(name) => {
                if self.locals.iter().any(|l| l == name) {
                    return Ty::Dyn;
                }
                match (self.lookup)(name) {
                    Some(Var::Item) => Ty::Int,
                    Some(Var::Score) => Ty::Double,
                    None => {
                        self.error(
                            e,
                            format!("unknown name `{name}`: {}", (self.unknown_hint)(name)),
                        );
                        Ty::Dyn
                    }
                }
            }
            Ast::Literal(lit) => match lit {
                LiteralValue::Boolean(_) => Ty::Bool,
                LiteralValue::Int(_) | LiteralValue::UInt(_) => Ty::Int,
                LiteralValue::Double(_) => Ty::Double,
                LiteralValue::Null => Ty::Null,
                LiteralValue::String(_) | LiteralValue::Bytes(_) => Ty::Str,
            },
            Ast::List(list) => {
                for el in &list.elements {
                    self.walk(el);
                }
                Ty::List
            }
            Ast::Call(call) => self.call(e, &call.func_name, call.target.as_deref(), &call.args),
            Ast::Comprehension(c) => {
                self.walk(&c.iter_range);
                self.locals.push(c.iter_var.clone());
                if let Some(v2) = &c.iter_var2 {
                    self.locals.push(v2.clone());
                }
                self.locals.push(c.accu_var.clone());
                self.walk(&c.accu_init);
                self.walk(&c.loop_cond);
                self.walk(&c.loop_step);
                let ty = self.walk(&c.result);
                self.locals.pop();
                if c.iter_var2.is_some() {
                    self.locals.pop();
                }
                self.locals.pop();
                ty
            }
            Ast::Select(_) | Ast::Map(_) | Ast::Struct(_) | Ast::Unspecified => {
                self.error(
                    e,
                    "only item and score names, numbers, lists and operators are allowed here"
                        .to_string(),
                );
                Ty::Dyn
            }
        }
    }

    fn call(
        &mut self,
        e: &IdedExpr,
        func: &str,
        target: Option<&IdedExpr>,
        args: &[IdedExpr],
    ) -> Ty {
        let target_ty = target.map(|t| self.walk(t));
        let tys: Vec<Ty> = args.iter().map(|a| self.walk(a)).collect();
        let op = operator_symbol(func);
        match func {
            operators::LOGICAL_AND | operators::LOGICAL_OR | operators::LOGICAL_NOT => {
                for (arg, ty) in args.iter().zip(&tys) {
                    if !matches!(ty, Ty::Bool | Ty::Dyn) {
                        self.error(
                            arg,
                            format!("`{op}` needs true or false, not {}", ty.describe()),
                        );
                    }
                }
                Ty::Bool
            }
            operators::NOT_STRICTLY_FALSE => Ty::Bool,
            operators::EQUALS | operators::NOT_EQUALS => {
                if let [a, b] = tys[..] {
                    let comparable = a == b
                        || (a.numeric() && b.numeric())
                        || matches!(a, Ty::Null | Ty::Dyn)
                        || matches!(b, Ty::Null | Ty::Dyn);
                    if !comparable {
                        self.error(
                            e,
                            format!(
                                "`{op}` compares {} with {}: the two can never be equal",
                                a.describe(),
                                b.describe()
                            ),
                        );
                    }
                }
                Ty::Bool
            }
            operators::LESS
            | operators::LESS_EQUALS
            | operators::GREATER
            | operators::GREATER_EQUALS => {
                for (arg, ty) in args.iter().zip(&tys) {
                    if !ty.numeric() {
                        self.error(
                            arg,
                            format!("`{op}` compares numbers, not {}", ty.describe()),
                        );
                    }
                }
                Ty::Bool
            }
            operators::ADD
            | operators::SUBSTRACT
            | operators::MULTIPLY
            | operators::DIVIDE
            | operators::MODULO => {
                for (arg, ty) in args.iter().zip(&tys) {
                    if !ty.numeric() {
                        self.error(
                            arg,
                            format!("`{op}` works on numbers, not {}", ty.describe()),
                        );
                    }
                }
                match tys[..] {
                    [Ty::Int, Ty::Int] => Ty::Int,
                    [Ty::Double, Ty::Double] => Ty::Double,
                    [Ty::Int, Ty::Double] | [Ty::Double, Ty::Int] => {
                        self.error(
                            e,
                            format!(
                                "`{op}` mixes a whole number (an item) with a decimal (a score or \
                                 a literal like 2.5); convert one side with double(...) or int(...)"
                            ),
                        );
                        Ty::Dyn
                    }
                    _ => Ty::Dyn,
                }
            }
            operators::NEGATE => {
                let ty = tys.first().copied().unwrap_or(Ty::Dyn);
                if !ty.numeric() {
                    self.error(e, format!("`-` works on numbers, not {}", ty.describe()));
                }
                ty
            }
            operators::CONDITIONAL => {
                if let [cond, then, otherwise] = tys[..] {
                    if !matches!(cond, Ty::Bool | Ty::Dyn) {
                        self.error(
                            &args[0],
                            format!(
                                "the condition of `? :` must be true or false, not {}",
                                cond.describe()
                            ),
                        );
                    }
                    if then == otherwise { then } else { Ty::Dyn }
                } else {
                    Ty::Dyn
                }
            }
            operators::IN => {
                if let Some(ty) = tys.get(1)
                    && !matches!(ty, Ty::List | Ty::Dyn)
                {
                    self.error(
                        &args[1],
                        format!("`in` needs a list on its right, not {}", ty.describe()),
                    );
                }
                Ty::Bool
            }
            operators::INDEX => Ty::Dyn,
            "int" if target.is_none() && args.len() == 1 => Ty::Int,
            "double" if target.is_none() && args.len() == 1 => Ty::Double,
            "size" => {
                let ty = target_ty
                    .or_else(|| tys.first().copied())
                    .unwrap_or(Ty::Dyn);
                if !matches!(ty, Ty::List | Ty::Str | Ty::Dyn) {
                    self.error(e, format!("`size` needs a list, not {}", ty.describe()));
                }
                Ty::Int
            }
            other => {
                self.error(
                    e,
                    format!("unknown function `{other}`; allowed: int(), double(), size(), .exists(), .all(), .exists_one()"),
                );
                Ty::Dyn
            }
        }
    }
}

fn operator_symbol(func: &str) -> &str {
    match func {
        operators::LOGICAL_AND => "&&",
        operators::LOGICAL_OR => "||",
        operators::LOGICAL_NOT => "!",
        operators::EQUALS => "==",
        operators::NOT_EQUALS => "!=",
        operators::LESS => "<",
        operators::LESS_EQUALS => "<=",
        operators::GREATER => ">",
        operators::GREATER_EQUALS => ">=",
        operators::ADD => "+",
        operators::SUBSTRACT => "-",
        operators::MULTIPLY => "*",
        operators::DIVIDE => "/",
        operators::MODULO => "%",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(name: &str) -> Option<Var> {
        match name {
            "q1" | "q2" | "q9" => Some(Var::Item),
            "total" => Some(Var::Score),
            _ => None,
        }
    }

    fn compile(src: &str) -> Result<Expr, Vec<ExprError>> {
        Expr::compile(&new_env(), src, &lookup, &|_| {
            "not an item or score".to_string()
        })
    }

    fn first_error(src: &str) -> (usize, String) {
        let errs = compile(src).expect_err(src);
        (errs[0].offset, errs[0].message.clone())
    }

    struct Vars(&'static [(&'static str, Binding)]);
    impl Lookup for Vars {
        fn lookup(&self, name: &str) -> Option<Binding> {
            self.0.iter().find(|(n, _)| *n == name).map(|(_, b)| *b)
        }
    }

    #[test]
    fn accepts_the_conditions_authors_write() {
        for src in [
            "q9 != null && q9 >= 1",
            "q9 == null",
            "total >= 10",
            "total >= 9.5",
            "[q1, q2].exists(x, x == 1)",
            "q1 in [1, 2]",
            "q1 + q2 >= 3",
            "double(q1) + total > 3.0",
            "(q1 >= 1 ? q2 : 0) > 1",
        ] {
            compile(src).unwrap_or_else(|e| panic!("{src}: {e:?}"));
        }
    }

    #[test]
    fn rejects_each_kind_of_mistake_with_a_position() {
        // (source, offset of the error, a phrase the message must contain, why)
        let cases = [
            ("q1 >=", 5, "does not parse", "syntax"),
            ("q3 >= 1", 0, "unknown name `q3`", "unknown item"),
            (
                "q1 >= 1 && nope",
                11,
                "unknown name `nope`",
                "unknown name on the right",
            ),
            (
                "q1 + q2",
                3,
                "must be true or false",
                "a number is not a condition",
            ),
            (
                "q1 + total > 1",
                3,
                "mixes a whole number",
                "int + double fails at run time",
            ),
            (
                "q1 == 'yes'",
                3,
                "can never be equal",
                "int compared with string",
            ),
            ("q1 >= true", 6, "compares numbers", "ordering a bool"),
            ("q1 && q2", 0, "needs true or false", "logic on numbers"),
            (
                "foo(q1)",
                3,
                "unknown function `foo`",
                "functions are a closed set",
            ),
            (
                "q1.bar == 1",
                2,
                "only item and score names",
                "field selection",
            ),
        ];
        for (src, offset, phrase, why) in cases {
            let (at, msg) = first_error(src);
            assert!(msg.contains(phrase), "{why}: {src}: {msg}");
            assert_eq!(at, offset, "{why}: {src}: {msg}");
        }
    }

    #[test]
    fn evaluates_with_nulls_as_cel_does() {
        let env = new_env();
        let guarded = compile("q9 != null && q9 >= 1").unwrap();
        let unguarded = compile("q9 >= 1").unwrap();
        let null = Vars(&[("q9", Binding::Null)]);
        let two = Vars(&[("q9", Binding::Int(2))]);
        assert_eq!(guarded.eval(&env, &null), Eval::False);
        assert_eq!(guarded.eval(&env, &two), Eval::True);
        assert!(matches!(unguarded.eval(&env, &null), Eval::Error(_)));
        let score = compile("total >= 10").unwrap();
        assert_eq!(
            score.eval(&env, &Vars(&[("total", Binding::Double(10.0))])),
            Eval::True
        );
        assert_eq!(
            score.eval(&env, &Vars(&[("total", Binding::Double(9.9))])),
            Eval::False
        );
    }
}
