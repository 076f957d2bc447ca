//! `filterByFormula`: a parser and evaluator for the part of Airtable's formula language that
//! filters use (shared docs, airtable-api.md §7).
//!
//! A formula is parsed once per request into an `Expr` whose field references are already resolved
//! to field ids, so an unknown field is found before any record is read. Values follow Airtable's
//! loose typing: comparisons of a date with a text do not parse the text (the Pipedream pitfall,
//! §7.4), and the result is truthy unless it is `0`, `false`, `""`, `NaN`, `[]`, blank or an error.

use std::cmp::Ordering;

use chrono::{DateTime, Datelike, Duration, Months, NaiveDate, NaiveTime, TimeZone, Timelike, Utc};

/// A formula value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Val {
    Blank,
    Num(f64),
    Text(String),
    Bool(bool),
    Date(DateTime<Utc>),
    List(Vec<Val>),
    Error,
}

/// Why a formula was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FormulaError {
    Syntax,
    /// Field names (as written) that no field of the table has, in order of first use.
    UnknownFields(Vec<String>),
}

impl FormulaError {
    /// The message of the 422 `INVALID_FILTER_BY_FORMULA` error.
    pub(crate) fn message(&self) -> String {
        match self {
            FormulaError::Syntax => {
                "The formula for filtering records is invalid: Invalid formula. Please check your formula text.".into()
            }
            FormulaError::UnknownFields(names) => {
                format!("The formula for filtering records is invalid: Unknown field names: {}", names.join(", "))
            }
        }
    }
}

/// What a formula can ask of the record it is evaluated for.
pub(crate) trait Row {
    fn record_id(&self) -> &str;
    fn created_time(&self) -> DateTime<Utc>;
    /// The last change to any of these fields; to any non-computed field when `fields` is empty.
    fn modified_time(&self, fields: &[String]) -> Option<DateTime<Utc>>;
    /// The cell of a field, by id.
    fn value(&self, field_id: &str) -> Val;
    fn now(&self) -> DateTime<Utc>;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Gt,
    Le,
    Ge,
    Concat,
    Add,
    Sub,
    Mul,
    Div,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Num(f64),
    Str(String),
    Field(String),
    Ident(String),
    LParen,
    RParen,
    Comma,
    Op(Op),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Func {
    And,
    Or,
    Not,
    If,
    RecordId,
    CreatedTime,
    LastModifiedTime,
    IsAfter,
    IsBefore,
    IsSame,
    DatetimeParse,
    DateAdd,
    DatetimeDiff,
    Now,
    Today,
    True,
    False,
    Blank,
    Len,
    Lower,
    Upper,
    Trim,
    Find,
    Search,
    ArrayJoin,
}

impl Func {
    fn parse(name: &str) -> Option<Func> {
        Some(match name.to_ascii_uppercase().as_str() {
            "AND" => Func::And,
            "OR" => Func::Or,
            "NOT" => Func::Not,
            "IF" => Func::If,
            "RECORD_ID" => Func::RecordId,
            "CREATED_TIME" => Func::CreatedTime,
            "LAST_MODIFIED_TIME" => Func::LastModifiedTime,
            "IS_AFTER" => Func::IsAfter,
            "IS_BEFORE" => Func::IsBefore,
            "IS_SAME" => Func::IsSame,
            "DATETIME_PARSE" => Func::DatetimeParse,
            "DATEADD" => Func::DateAdd,
            "DATETIME_DIFF" => Func::DatetimeDiff,
            "NOW" => Func::Now,
            "TODAY" => Func::Today,
            "TRUE" => Func::True,
            "FALSE" => Func::False,
            "BLANK" => Func::Blank,
            "LEN" => Func::Len,
            "LOWER" => Func::Lower,
            "UPPER" => Func::Upper,
            "TRIM" => Func::Trim,
            "FIND" => Func::Find,
            "SEARCH" => Func::Search,
            "ARRAYJOIN" => Func::ArrayJoin,
            _ => return None,
        })
    }

    /// Fewest and most arguments.
    fn arity(self) -> (usize, usize) {
        match self {
            Func::And | Func::Or => (1, usize::MAX),
            Func::LastModifiedTime => (0, usize::MAX),
            Func::Not | Func::Len | Func::Lower | Func::Upper | Func::Trim => (1, 1),
            Func::If => (2, 3),
            Func::RecordId | Func::CreatedTime | Func::Now | Func::Today | Func::True | Func::False | Func::Blank => {
                (0, 0)
            }
            Func::IsAfter | Func::IsBefore => (2, 2),
            Func::IsSame | Func::DatetimeDiff => (2, 3),
            Func::DatetimeParse => (1, 3),
            Func::DateAdd => (3, 3),
            Func::Find | Func::Search => (2, 3),
            Func::ArrayJoin => (1, 2),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Expr {
    Num(f64),
    Str(String),
    /// A field reference: its name as written until resolved, then its id.
    Field(String),
    Call(Func, Vec<Expr>),
    Neg(Box<Expr>),
    Bin(Op, Box<Expr>, Box<Expr>),
}

/// A parsed formula whose field references are field ids.
#[derive(Debug, Clone)]
pub(crate) struct Formula {
    expr: Expr,
}

impl Formula {
    /// Parses `text`; `resolve` maps a field name or id to the field's id.
    pub(crate) fn parse(text: &str, resolve: impl Fn(&str) -> Option<String>) -> Result<Formula, FormulaError> {
        let tokens = lex(text).ok_or(FormulaError::Syntax)?;
        let mut parser = Parser { tokens, pos: 0 };
        let mut expr = parser.expr().ok_or(FormulaError::Syntax)?;
        if parser.pos != parser.tokens.len() {
            return Err(FormulaError::Syntax);
        }
        let mut unknown = Vec::new();
        resolve_fields(&mut expr, &resolve, &mut unknown);
        if unknown.is_empty() {
            Ok(Formula { expr })
        } else {
            Err(FormulaError::UnknownFields(unknown))
        }
    }

    pub(crate) fn eval(&self, row: &dyn Row) -> Val {
        eval(&self.expr, row)
    }

    /// Whether a record passes the filter (§7.1).
    pub(crate) fn matches(&self, row: &dyn Row) -> bool {
        truthy(&self.eval(row))
    }
}

fn resolve_fields(expr: &mut Expr, resolve: &dyn Fn(&str) -> Option<String>, unknown: &mut Vec<String>) {
    match expr {
        Expr::Field(name) => match resolve(name) {
            Some(id) => *name = id,
            None if !unknown.contains(name) => unknown.push(name.clone()),
            None => {}
        },
        Expr::Call(_, args) => args.iter_mut().for_each(|a| resolve_fields(a, resolve, unknown)),
        Expr::Neg(inner) => resolve_fields(inner, resolve, unknown),
        Expr::Bin(_, a, b) => {
            resolve_fields(a, resolve, unknown);
            resolve_fields(b, resolve, unknown);
        }
        Expr::Num(_) | Expr::Str(_) => {}
    }
}

fn lex(text: &str) -> Option<Vec<Tok>> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        let tok = match c {
            c if c.is_whitespace() => continue,
            '(' => Tok::LParen,
            ')' => Tok::RParen,
            ',' => Tok::Comma,
            '&' => Tok::Op(Op::Concat),
            '+' => Tok::Op(Op::Add),
            '-' => Tok::Op(Op::Sub),
            '*' => Tok::Op(Op::Mul),
            '/' => Tok::Op(Op::Div),
            '=' => Tok::Op(Op::Eq),
            '!' if chars.get(i) == Some(&'=') => {
                i += 1;
                Tok::Op(Op::Ne)
            }
            '<' | '>' => {
                let next = chars.get(i).copied();
                let (op, len) = match (c, next) {
                    ('<', Some('=')) => (Op::Le, 1),
                    ('<', Some('>')) => (Op::Ne, 1),
                    ('>', Some('=')) => (Op::Ge, 1),
                    ('<', _) => (Op::Lt, 0),
                    _ => (Op::Gt, 0),
                };
                i += len;
                Tok::Op(op)
            }
            '{' => {
                let end = chars[i..].iter().position(|&c| c == '}')? + i;
                let name: String = chars[i..end].iter().collect();
                i = end + 1;
                Tok::Field(name)
            }
            '\'' | '"' => {
                let mut s = String::new();
                loop {
                    let ch = *chars.get(i)?;
                    i += 1;
                    match ch {
                        '\\' => {
                            let escaped = *chars.get(i)?;
                            i += 1;
                            s.push(match escaped {
                                'n' => '\n',
                                't' => '\t',
                                'r' => '\r',
                                other => other,
                            });
                        }
                        ch if ch == c => break,
                        ch => s.push(ch),
                    }
                }
                Tok::Str(s)
            }
            c if c.is_ascii_digit() || c == '.' => {
                let start = i - 1;
                while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                    i += 1;
                }
                let text: String = chars[start..i].iter().collect();
                Tok::Num(text.parse().ok()?)
            }
            c if c.is_alphabetic() || c == '_' => {
                let start = i - 1;
                while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
                Tok::Ident(chars[start..i].iter().collect())
            }
            _ => return None,
        };
        tokens.push(tok);
    }
    Some(tokens)
}

struct Parser {
    tokens: Vec<Tok>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.tokens.get(self.pos)
    }

    fn next(&mut self) -> Option<Tok> {
        let tok = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        tok
    }

    fn eat_op(&mut self, ops: &[Op]) -> Option<Op> {
        match self.peek() {
            Some(Tok::Op(op)) if ops.contains(op) => {
                let op = *op;
                self.pos += 1;
                Some(op)
            }
            _ => None,
        }
    }

    /// One precedence level: operands from `operand`, joined left to right by `ops`.
    fn level(&mut self, ops: &[Op], operand: fn(&mut Parser) -> Option<Expr>) -> Option<Expr> {
        let mut left = operand(self)?;
        while let Some(op) = self.eat_op(ops) {
            let right = operand(self)?;
            left = Expr::Bin(op, Box::new(left), Box::new(right));
        }
        Some(left)
    }

    fn expr(&mut self) -> Option<Expr> {
        self.level(&[Op::Eq, Op::Ne, Op::Lt, Op::Gt, Op::Le, Op::Ge], Parser::concat)
    }

    fn concat(&mut self) -> Option<Expr> {
        self.level(&[Op::Concat], Parser::sum)
    }

    fn sum(&mut self) -> Option<Expr> {
        self.level(&[Op::Add, Op::Sub], Parser::product)
    }

    fn product(&mut self) -> Option<Expr> {
        self.level(&[Op::Mul, Op::Div], Parser::unary)
    }

    fn unary(&mut self) -> Option<Expr> {
        if self.eat_op(&[Op::Sub]).is_some() {
            return Some(Expr::Neg(Box::new(self.unary()?)));
        }
        if self.eat_op(&[Op::Add]).is_some() {
            return self.unary();
        }
        self.primary()
    }

    fn primary(&mut self) -> Option<Expr> {
        match self.next()? {
            Tok::Num(n) => Some(Expr::Num(n)),
            Tok::Str(s) => Some(Expr::Str(s)),
            Tok::Field(name) => Some(Expr::Field(name)),
            Tok::LParen => {
                let inner = self.expr()?;
                (self.next()? == Tok::RParen).then_some(inner)
            }
            Tok::Ident(name) if self.peek() == Some(&Tok::LParen) => {
                self.pos += 1;
                let func = Func::parse(&name)?;
                let args = self.args()?;
                let (min, max) = func.arity();
                if args.len() < min || args.len() > max {
                    return None;
                }
                if func == Func::LastModifiedTime && !args.iter().all(|a| matches!(a, Expr::Field(_))) {
                    return None;
                }
                Some(Expr::Call(func, args))
            }
            Tok::Ident(name) => Some(Expr::Field(name)),
            _ => None,
        }
    }

    /// Arguments after `(`, through the closing `)`.
    fn args(&mut self) -> Option<Vec<Expr>> {
        let mut args = Vec::new();
        if self.peek() == Some(&Tok::RParen) {
            self.pos += 1;
            return Some(args);
        }
        loop {
            args.push(self.expr()?);
            match self.next()? {
                Tok::Comma => continue,
                Tok::RParen => return Some(args),
                _ => return None,
            }
        }
    }
}

fn eval(expr: &Expr, row: &dyn Row) -> Val {
    match expr {
        Expr::Num(n) => Val::Num(*n),
        Expr::Str(s) => Val::Text(s.clone()),
        Expr::Field(id) => row.value(id),
        Expr::Neg(inner) => match strict_num(&eval(inner, row)) {
            Some(n) => Val::Num(-n),
            None => Val::Error,
        },
        Expr::Bin(op, a, b) => binary(*op, eval(a, row), eval(b, row)),
        Expr::Call(func, args) => call(*func, args, row),
    }
}

fn binary(op: Op, a: Val, b: Val) -> Val {
    if a == Val::Error || b == Val::Error {
        return Val::Error;
    }
    let arithmetic = |f: fn(f64, f64) -> f64| match (strict_num(&a), strict_num(&b)) {
        (Some(x), Some(y)) => Val::Num(f(x, y)),
        _ => Val::Error,
    };
    match op {
        Op::Concat => Val::Text(text(&a) + &text(&b)),
        Op::Add => arithmetic(|x, y| x + y),
        Op::Sub => arithmetic(|x, y| x - y),
        Op::Mul => arithmetic(|x, y| x * y),
        Op::Div => arithmetic(|x, y| x / y),
        Op::Eq | Op::Ne | Op::Lt | Op::Gt | Op::Le | Op::Ge => {
            let ord = compare(&a, &b);
            Val::Bool(match op {
                Op::Eq => ord == Some(Ordering::Equal),
                Op::Ne => ord != Some(Ordering::Equal),
                Op::Lt => ord == Some(Ordering::Less),
                Op::Gt => ord == Some(Ordering::Greater),
                Op::Le => matches!(ord, Some(Ordering::Less | Ordering::Equal)),
                _ => matches!(ord, Some(Ordering::Greater | Ordering::Equal)),
            })
        }
    }
}

/// Orders two values the way Airtable's comparison operators do: dates with dates, texts with
/// texts (blank counts as `""`), everything else as numbers — a text that is not a number counts
/// as 0, so a date compared with a date *string* is not a date comparison.
fn compare(a: &Val, b: &Val) -> Option<Ordering> {
    let flat = |v: &Val| match v {
        Val::List(_) => Val::Text(text(v)),
        other => other.clone(),
    };
    match (flat(a), flat(b)) {
        (Val::Date(x), Val::Date(y)) => Some(x.cmp(&y)),
        (Val::Text(x), Val::Text(y)) => Some(x.cmp(&y)),
        (Val::Blank, Val::Blank) => Some(Ordering::Equal),
        (Val::Blank, Val::Text(y)) => Some("".cmp(y.as_str())),
        (Val::Text(x), Val::Blank) => Some(x.as_str().cmp("")),
        (x, y) => loose_num(&x).partial_cmp(&loose_num(&y)),
    }
}

fn loose_num(v: &Val) -> f64 {
    match v {
        Val::Date(d) => d.timestamp_millis() as f64,
        Val::Error => f64::NAN,
        other => strict_num(other).unwrap_or(0.0),
    }
}

fn strict_num(v: &Val) -> Option<f64> {
    match v {
        Val::Blank => Some(0.0),
        Val::Num(n) => Some(*n),
        Val::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
        Val::Text(s) if s.trim().is_empty() => Some(0.0),
        Val::Text(s) => s.trim().parse().ok(),
        Val::List(items) if items.len() == 1 => strict_num(&items[0]),
        Val::List(_) | Val::Date(_) | Val::Error => None,
    }
}

/// The text form of a value (what `&` concatenates).
pub(crate) fn text(v: &Val) -> String {
    match v {
        Val::Blank => String::new(),
        Val::Num(n) if n.fract() == 0.0 && n.abs() < 1e15 => format!("{}", *n as i64),
        Val::Num(n) => format!("{n}"),
        Val::Text(s) => s.clone(),
        Val::Bool(b) => if *b { "1" } else { "0" }.into(),
        Val::Date(d) => d.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        Val::List(items) => items.iter().map(text).collect::<Vec<_>>().join(", "),
        Val::Error => "#ERROR!".into(),
    }
}

/// Whether a formula result keeps its record (§7.1).
pub(crate) fn truthy(v: &Val) -> bool {
    match v {
        Val::Blank | Val::Error => false,
        Val::Num(n) => *n != 0.0 && !n.is_nan(),
        Val::Text(s) => !s.is_empty(),
        Val::Bool(b) => *b,
        Val::Date(_) => true,
        Val::List(items) => !items.is_empty(),
    }
}

fn to_date(v: &Val) -> Option<DateTime<Utc>> {
    match v {
        Val::Date(d) => Some(*d),
        Val::Text(s) => parse_datetime(s),
        Val::List(items) if items.len() == 1 => to_date(&items[0]),
        _ => None,
    }
}

fn call(func: Func, args: &[Expr], row: &dyn Row) -> Val {
    let arg = |i: usize| eval(&args[i], row);
    let opt_arg = |i: usize| args.get(i).map(|a| eval(a, row));
    match func {
        Func::And | Func::Or => {
            let mut result = func == Func::And;
            for a in args {
                let v = eval(a, row);
                if v == Val::Error {
                    return Val::Error;
                }
                if func == Func::And {
                    result &= truthy(&v);
                } else {
                    result |= truthy(&v);
                }
            }
            Val::Bool(result)
        }
        Func::Not => match arg(0) {
            Val::Error => Val::Error,
            v => Val::Bool(!truthy(&v)),
        },
        Func::If => match arg(0) {
            Val::Error => Val::Error,
            c if truthy(&c) => arg(1),
            _ => opt_arg(2).unwrap_or(Val::Blank),
        },
        Func::RecordId => Val::Text(row.record_id().to_string()),
        Func::CreatedTime => Val::Date(row.created_time()),
        Func::LastModifiedTime => {
            let fields: Vec<String> = args
                .iter()
                .filter_map(|a| match a {
                    Expr::Field(id) => Some(id.clone()),
                    _ => None,
                })
                .collect();
            row.modified_time(&fields).map_or(Val::Blank, Val::Date)
        }
        Func::Now => Val::Date(row.now()),
        Func::Today => Val::Date(truncate(row.now(), "day").unwrap_or_else(|| row.now())),
        Func::True => Val::Bool(true),
        Func::False => Val::Bool(false),
        Func::Blank => Val::Blank,
        Func::IsAfter | Func::IsBefore | Func::IsSame => {
            let (a, b) = (arg(0), arg(1));
            if a == Val::Blank || b == Val::Blank {
                return Val::Bool(false);
            }
            let (Some(a), Some(b)) = (to_date(&a), to_date(&b)) else { return Val::Error };
            match func {
                Func::IsAfter => Val::Bool(a > b),
                Func::IsBefore => Val::Bool(a < b),
                _ => {
                    let unit = opt_arg(2).map_or_else(|| "millisecond".to_string(), |u| text(&u));
                    match (truncate(a, &unit), truncate(b, &unit)) {
                        (Some(a), Some(b)) => Val::Bool(a == b),
                        _ => Val::Error,
                    }
                }
            }
        }
        Func::DatetimeParse => match arg(0) {
            Val::Date(d) => Val::Date(d),
            v => parse_datetime(&text(&v)).map_or(Val::Error, Val::Date),
        },
        Func::DateAdd => {
            let (Some(date), Some(count)) = (to_date(&arg(0)), strict_num(&arg(1))) else { return Val::Error };
            add(date, count, &text(&arg(2))).map_or(Val::Error, Val::Date)
        }
        Func::DatetimeDiff => {
            let (Some(a), Some(b)) = (to_date(&arg(0)), to_date(&arg(1))) else { return Val::Error };
            let unit = opt_arg(2).map_or_else(|| "seconds".to_string(), |u| text(&u));
            let ms = (a - b).num_milliseconds() as f64;
            unit_millis(&unit).map_or(Val::Error, |per| Val::Num((ms / per).trunc()))
        }
        Func::Len => Val::Num(text(&arg(0)).chars().count() as f64),
        Func::Lower => Val::Text(text(&arg(0)).to_lowercase()),
        Func::Upper => Val::Text(text(&arg(0)).to_uppercase()),
        Func::Trim => Val::Text(text(&arg(0)).trim().to_string()),
        Func::Find | Func::Search => {
            let (needle, haystack) = (text(&arg(0)), text(&arg(1)));
            let start = opt_arg(2).and_then(|v| strict_num(&v)).map_or(0, |n| (n.max(1.0) as usize) - 1);
            let found = char_find(&haystack, &needle, start);
            match (found, func) {
                (Some(pos), _) => Val::Num((pos + 1) as f64),
                (None, Func::Find) => Val::Num(0.0),
                (None, _) => Val::Blank,
            }
        }
        Func::ArrayJoin => {
            let sep = opt_arg(1).map_or_else(|| ", ".to_string(), |s| text(&s));
            match arg(0) {
                Val::List(items) => Val::Text(items.iter().map(text).collect::<Vec<_>>().join(&sep)),
                v => Val::Text(text(&v)),
            }
        }
    }
}

/// The 0-based character position of `needle` in `haystack` at or after character `start`.
fn char_find(haystack: &str, needle: &str, start: usize) -> Option<usize> {
    let hay: Vec<char> = haystack.chars().collect();
    let needle: Vec<char> = needle.chars().collect();
    if needle.is_empty() || start > hay.len() {
        return None;
    }
    (start..=hay.len().saturating_sub(needle.len())).find(|&i| hay[i..].starts_with(&needle))
}

/// Milliseconds in a fixed-length unit.
fn unit_millis(unit: &str) -> Option<f64> {
    Some(match unit.trim().to_ascii_lowercase().as_str() {
        "ms" | "millisecond" | "milliseconds" => 1.0,
        "s" | "second" | "seconds" => 1e3,
        "m" | "minute" | "minutes" => 60e3,
        "h" | "hour" | "hours" => 3600e3,
        "d" | "day" | "days" => 86400e3,
        "w" | "week" | "weeks" => 7.0 * 86400e3,
        _ => return None,
    })
}

fn add(date: DateTime<Utc>, count: f64, unit: &str) -> Option<DateTime<Utc>> {
    let unit = unit.trim().to_ascii_lowercase();
    let months = match unit.as_str() {
        "month" | "months" => Some(count as i64),
        "quarter" | "quarters" | "q" => Some(count as i64 * 3),
        "year" | "years" | "y" => Some(count as i64 * 12),
        _ => None,
    };
    match months {
        Some(n) if n >= 0 => date.checked_add_months(Months::new(n as u32)),
        Some(n) => date.checked_sub_months(Months::new(n.unsigned_abs() as u32)),
        None => date.checked_add_signed(Duration::milliseconds((count * unit_millis(&unit)?) as i64)),
    }
}

/// The start of the `unit` containing `d` (UTC): what `IS_SAME` compares.
fn truncate(d: DateTime<Utc>, unit: &str) -> Option<DateTime<Utc>> {
    let unit = unit.trim().to_ascii_lowercase();
    fn at(date: NaiveDate, h: u32, m: u32, s: u32) -> Option<DateTime<Utc>> {
        Some(Utc.from_utc_datetime(&date.and_hms_opt(h, m, s)?))
    }
    let day = d.date_naive();
    match unit.as_str() {
        "ms" | "millisecond" | "milliseconds" => d.with_nanosecond(d.nanosecond() / 1_000_000 * 1_000_000),
        "s" | "second" | "seconds" => at(day, d.hour(), d.minute(), d.second()),
        "minute" | "minutes" => at(day, d.hour(), d.minute(), 0),
        "h" | "hour" | "hours" => at(day, d.hour(), 0, 0),
        "d" | "day" | "days" => at(day, 0, 0, 0),
        "w" | "week" | "weeks" => at(day - Duration::days(day.weekday().num_days_from_sunday() as i64), 0, 0, 0),
        "month" | "months" => at(day.with_day(1)?, 0, 0, 0),
        "y" | "year" | "years" => at(NaiveDate::from_ymd_opt(day.year(), 1, 1)?, 0, 0, 0),
        _ => None,
    }
}

/// Parses an ISO 8601 date or date-time: `YYYY-MM-DD`, then optionally `T` or a space, `HH:MM`,
/// `:SS`, a fraction of 1–9 digits, and `Z` or an offset. No zone means UTC.
pub(crate) fn parse_datetime(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    let date = NaiveDate::parse_from_str(s.get(..10)?, "%Y-%m-%d").ok()?;
    let rest = &s[10..];
    if rest.is_empty() {
        return Some(Utc.from_utc_datetime(&date.and_hms_opt(0, 0, 0)?));
    }
    let rest = rest.strip_prefix(['T', 't', ' '])?;
    let (clock, zone) = match rest.find(['Z', 'z', '+', '-']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let (hms, fraction) = match clock.split_once('.') {
        Some((hms, f)) if (1..=9).contains(&f.len()) && f.bytes().all(|b| b.is_ascii_digit()) => (hms, f),
        Some(_) => return None,
        None => (clock, ""),
    };
    let parts: Vec<&str> = hms.split(':').collect();
    let two_digits =
        |p: &str| (p.len() == 2 && p.bytes().all(|b| b.is_ascii_digit())).then(|| p.parse::<u32>().ok())?;
    let (h, m, sec) = match parts.as_slice() {
        [h, m] if fraction.is_empty() => (two_digits(h)?, two_digits(m)?, 0),
        [h, m, sec] => (two_digits(h)?, two_digits(m)?, two_digits(sec)?),
        _ => return None,
    };
    let nanos = if fraction.is_empty() { 0 } else { format!("{fraction:0<9}").parse::<u32>().ok()? };
    let local = date.and_time(NaiveTime::from_hms_nano_opt(h, m, sec, nanos)?);
    let offset_secs = match zone {
        "" | "Z" | "z" => 0,
        _ => {
            let sign = if zone.starts_with('-') { -1 } else { 1 };
            let digits: String = zone[1..].chars().filter(|c| *c != ':').collect();
            if digits.len() != 4 && digits.len() != 2 {
                return None;
            }
            let oh: i32 = digits.get(..2)?.parse().ok()?;
            let om: i32 = if digits.len() == 4 { digits[2..].parse().ok()? } else { 0 };
            sign * (oh * 3600 + om * 60)
        }
    };
    Some(Utc.from_utc_datetime(&(local - Duration::seconds(offset_secs as i64))))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    struct TestRow {
        id: String,
        created: DateTime<Utc>,
        modified: DateTime<Utc>,
        cells: HashMap<String, Val>,
    }

    impl Row for TestRow {
        fn record_id(&self) -> &str {
            &self.id
        }
        fn created_time(&self) -> DateTime<Utc> {
            self.created
        }
        fn modified_time(&self, _fields: &[String]) -> Option<DateTime<Utc>> {
            Some(self.modified)
        }
        fn value(&self, field_id: &str) -> Val {
            self.cells.get(field_id).cloned().unwrap_or(Val::Blank)
        }
        fn now(&self) -> DateTime<Utc> {
            parse_datetime("2025-03-04T05:06:07Z").unwrap()
        }
    }

    fn row() -> TestRow {
        let mut cells = HashMap::new();
        cells.insert("fldName0000000001".into(), Val::Text("Guest's \"Name\"".into()));
        cells.insert("fldStatus00000001".into(), Val::Text("Active".into()));
        cells.insert("fldPrice000000001".into(), Val::Num(129.9));
        cells.insert("fldZero0000000001".into(), Val::Num(0.0));
        cells.insert("fldBrand000000001".into(), Val::List(vec![Val::Text("Bosch".into())]));
        cells.insert("fldErr00000000001".into(), Val::Error);
        TestRow {
            id: "recAAAAAAAAAAAAAA".into(),
            created: parse_datetime("2025-01-20T10:02:11.000Z").unwrap(),
            modified: parse_datetime("2025-03-01T12:00:05.000Z").unwrap(),
            cells,
        }
    }

    fn resolve(name: &str) -> Option<String> {
        let id = match name {
            "Name" | "fldName0000000001" => "fldName0000000001",
            "Status" => "fldStatus00000001",
            "Price" => "fldPrice000000001",
            "Zero" => "fldZero0000000001",
            "Brand name" => "fldBrand000000001",
            "Notes" => "fldNotes000000001",
            "Err" => "fldErr00000000001",
            _ => return None,
        };
        Some(id.to_string())
    }

    fn eval_str(formula: &str) -> Val {
        Formula::parse(formula, resolve).unwrap_or_else(|e| panic!("{formula}: {e:?}")).eval(&row())
    }

    fn keeps(formula: &str) -> bool {
        truthy(&eval_str(formula))
    }

    #[test]
    fn field_references_by_name_id_and_bare_word() {
        assert_eq!(eval_str("{Status}"), Val::Text("Active".into()));
        assert_eq!(eval_str("{fldName0000000001}"), Val::Text("Guest's \"Name\"".into()));
        assert_eq!(eval_str("Status"), Val::Text("Active".into()));
        assert!(keeps("{Brand name}='Bosch'"));
    }

    #[test]
    fn string_literals_in_both_quote_styles_with_escapes() {
        assert!(keeps(r#"{Name}='Guest\'s "Name"'"#));
        assert!(keeps(r#"{Name}="Guest's \"Name\"""#));
        assert_eq!(eval_str(r"'a\\b'"), Val::Text("a\\b".into()));
        assert_eq!(eval_str(r"'x\ny'"), Val::Text("x\ny".into()));
    }

    #[test]
    fn operators_and_precedence() {
        assert_eq!(eval_str("1 + 2 * 3"), Val::Num(7.0));
        assert_eq!(eval_str("(1 + 2) * 3"), Val::Num(9.0));
        assert_eq!(eval_str("-2 + 5"), Val::Num(3.0));
        assert_eq!(eval_str("10 / 4"), Val::Num(2.5));
        assert_eq!(eval_str("'a' & 1 + 1 & 'b'"), Val::Text("a2b".into()));
        assert!(keeps("1 + 1 = 2"));
        assert!(keeps("{Price} > 100"));
        assert!(keeps("{Price} >= 129.9"));
        assert!(!keeps("{Price} < 100"));
        assert!(keeps("{Price} <= 130"));
        assert!(keeps("{Status} != 'Archived'"));
        assert!(keeps("{Status} <> 'Archived'"));
        assert!(keeps("AND({Status}='Active', OR({Price}>1000, {Price}<200), NOT({Status}='Draft'))"));
        assert_eq!(eval_str("IF({Price}>100, 'dear', 'cheap')"), Val::Text("dear".into()));
        assert_eq!(eval_str("IF(FALSE(), 'x')"), Val::Blank);
    }

    #[test]
    fn truthiness_follows_the_documented_rules() {
        assert!(!keeps("0"));
        assert!(!keeps("''"));
        assert!(!keeps("FALSE()"));
        assert!(!keeps("BLANK()"));
        assert!(!keeps("{Err}"));
        assert!(!keeps("0/0"));
        assert!(keeps("TRUE()"));
        assert!(keeps("'x'"));
        assert!(keeps("{Zero}=0"));
        assert!(keeps("{Notes}=''"));
        assert!(keeps("NOT({Status}='')"));
        assert!(keeps("{Notes}=BLANK()"));
    }

    #[test]
    fn text_functions() {
        assert_eq!(eval_str("LEN('Bosch')"), Val::Num(5.0));
        assert_eq!(eval_str("LOWER('AbC')"), Val::Text("abc".into()));
        assert_eq!(eval_str("UPPER('AbC')"), Val::Text("ABC".into()));
        assert_eq!(eval_str("FIND('c', 'abcabc')"), Val::Num(3.0));
        assert_eq!(eval_str("FIND('c', 'abcabc', 4)"), Val::Num(6.0));
        assert_eq!(eval_str("FIND('z', 'abc')"), Val::Num(0.0));
        assert_eq!(eval_str("SEARCH('z', 'abc')"), Val::Blank);
        assert_eq!(eval_str("ARRAYJOIN({Brand name}, ';')"), Val::Text("Bosch".into()));
        assert_eq!(eval_str("RECORD_ID()"), Val::Text("recAAAAAAAAAAAAAA".into()));
    }

    #[test]
    fn dates_compare_with_dates_not_with_strings() {
        assert!(keeps("IS_AFTER(LAST_MODIFIED_TIME(), DATETIME_PARSE('2025-03-01T00:00:00.000Z'))"));
        assert!(!keeps("IS_BEFORE(LAST_MODIFIED_TIME(), DATETIME_PARSE('2025-03-01T00:00:00.000Z'))"));
        assert!(keeps("IS_SAME(LAST_MODIFIED_TIME(), DATETIME_PARSE('2025-03-01T12:00:05.999Z'), 'second')"));
        assert!(!keeps("IS_SAME(LAST_MODIFIED_TIME(), DATETIME_PARSE('2025-03-01T12:00:06Z'), 'second')"));
        assert!(keeps("IS_SAME(LAST_MODIFIED_TIME(), DATETIME_PARSE('2025-03-01T12:00:59Z'), 'minute')"));
        assert!(keeps("IS_SAME(CREATED_TIME(), DATETIME_PARSE('2025-01-20'), 'day')"));
        assert!(keeps("IS_SAME(CREATED_TIME(), DATETIME_PARSE('2025-01-20T10:59:00'), 'hour')"));
        // The Pipedream pitfall: a bare string is not parsed, so every record passes `>`.
        assert!(keeps("LAST_MODIFIED_TIME() > '2099-01-01T00:00:00.000Z'"));
        assert!(!keeps("LAST_MODIFIED_TIME() < '2000-01-01T00:00:00.000Z'"));
        // The incremental window of §7.4, with the inclusive lower bound.
        let window = "AND(OR(IS_SAME(LAST_MODIFIED_TIME(),DATETIME_PARSE(\"2025-03-01T12:00:05.000Z\"),'second'),\
                      IS_AFTER(LAST_MODIFIED_TIME(),DATETIME_PARSE(\"2025-03-01T12:00:05.000Z\"))),\
                      IS_BEFORE(LAST_MODIFIED_TIME(),DATETIME_PARSE(\"2025-03-01T12:00:06.000Z\")))";
        assert!(keeps(window));
        assert_eq!(
            eval_str("DATETIME_DIFF(LAST_MODIFIED_TIME(), DATETIME_PARSE('2025-03-01T12:00:00Z'))"),
            Val::Num(5.0)
        );
        assert!(keeps("IS_SAME(DATEADD(CREATED_TIME(), 1, 'days'), DATETIME_PARSE('2025-01-21T10:02:11Z'), 'second')"));
        assert!(keeps("IS_AFTER(NOW(), CREATED_TIME())"));
    }

    #[test]
    fn datetime_parse_accepts_iso_with_any_fraction_and_zone() {
        let expect = parse_datetime("2025-03-01T09:30:00Z").unwrap();
        for s in [
            "2025-03-01T09:30:00",
            "2025-03-01T09:30:00.0Z",
            "2025-03-01T09:30:00.000Z",
            "2025-03-01T09:30:00.000000000Z",
            "2025-03-01 09:30:00",
            "2025-03-01T09:30",
            "2025-03-01T10:30:00+01:00",
            "2025-03-01T04:30:00-0500",
        ] {
            assert_eq!(parse_datetime(s), Some(expect), "{s}");
        }
        assert_eq!(parse_datetime("2025-03-01T09:30:00.123456789Z").unwrap().timestamp_subsec_nanos(), 123_456_789);
        for bad in ["", "2025-3-1", "2025-03-01T9:30", "2025-03-01T09:30:00.Z", "2025-03-01T09:30:00.1234567890Z", "x"]
        {
            assert_eq!(parse_datetime(bad), None, "{bad}");
        }
        assert_eq!(eval_str("DATETIME_PARSE('junk')"), Val::Error);
    }

    #[test]
    fn syntax_errors() {
        for bad in [
            "AND(",
            "{Status",
            "'open",
            "{Status}=",
            "1 2",
            "NOSUCHFUNC(1)",
            "NOT(1, 2)",
            "RECORD_ID(1)",
            "LAST_MODIFIED_TIME('x')",
            "{Status} ! 'x'",
            "1.2.3",
            ")",
            "#",
        ] {
            assert_eq!(Formula::parse(bad, resolve).err(), Some(FormulaError::Syntax), "{bad}");
        }
        assert_eq!(
            FormulaError::Syntax.message(),
            "The formula for filtering records is invalid: Invalid formula. Please check your formula text."
        );
    }

    #[test]
    fn unknown_fields_are_named_once_each_in_order() {
        let err = Formula::parse("AND({colour}='red', size>1, {colour}!='')", resolve).unwrap_err();
        assert_eq!(err, FormulaError::UnknownFields(vec!["colour".into(), "size".into()]));
        assert_eq!(err.message(), "The formula for filtering records is invalid: Unknown field names: colour, size");
    }
}
