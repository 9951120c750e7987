//! Meilisearch's filter grammar, parsed by recursive descent with the same alternatives,
//! the same points of no return and the same error messages as its parser:
//!
//! ```text
//! or      = and ("OR" and)*          and = not ("AND" not)*
//! not     = "NOT" not | primary
//! primary = "(" or ")" | value "IN" "[" values "]" | value "NOT" "IN" "[" values "]"
//!         | value ("=" | "!=" | ">" | ">=" | "<" | "<=") value | value value "TO" value
//!         | value ("EXISTS" | "NOT" "EXISTS" | "IS" ["NOT"] ("NULL" | "EMPTY"))
//!         | value ["NOT"] ("CONTAINS" | "STARTS" "WITH") value
//! value   = word | 'single quoted' | "double quoted"     word = (alphanumeric | _ | - | .)+
//! ```

use super::{Cond, Expr, Tok};

/// A parse error: its message and the span of the input it points at (in characters).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    pub message: String,
    pub start: usize,
    pub len: usize,
    /// A failure stops the alternatives (nom's `cut`); an error lets the next one try.
    fatal: bool,
}

type PResult<T> = Result<(T, usize), ParseError>;
type MakeCond = fn(Tok) -> Cond;

const KEYWORDS: &[&str] = &[
    "AND",
    "OR",
    "IN",
    "NOT",
    "TO",
    "EXISTS",
    "IS",
    "NULL",
    "EMPTY",
    "CONTAINS",
    "STARTS",
    "WITH",
    "_geoRadius",
    "_geoBoundingBox",
];

pub struct Parser<'a> {
    chars: Vec<char>,
    source: usize,
    _input: &'a str,
}

enum ErrKind {
    ExpectedValue,
    ExpectedValueKeyword,
    MissingClosing(char),
    InvalidPrimary,
    ExpectedEof,
    InOpening,
    InClosing,
    InExpectedValue,
    InExpectedValueKeyword,
    MalformedValue,
}

impl<'a> Parser<'a> {
    pub fn new(input: &'a str, source: usize) -> Self {
        Parser {
            chars: input.chars().collect(),
            source,
            _input: input,
        }
    }

    fn text(&self, start: usize, len: usize) -> String {
        self.chars.iter().skip(start).take(len).collect()
    }

    fn err(&self, kind: ErrKind, start: usize, len: usize, fatal: bool) -> ParseError {
        let frag: String = self.text(start, len).escape_debug().to_string();
        let message = match kind {
            ErrKind::ExpectedValue if frag.trim().is_empty() => {
                "Was expecting a value but instead got nothing.".to_string()
            }
            ErrKind::ExpectedValue => format!("Was expecting a value but instead got `{frag}`."),
            ErrKind::ExpectedValueKeyword => format!(
                "Was expecting a value but instead got `{frag}`, which is a reserved keyword. To use `{frag}` as a field name or a value, surround it by quotes."
            ),
            ErrKind::MissingClosing(c) => {
                format!("Expression `{frag}` is missing the following closing delimiter: `{c}`.")
            }
            ErrKind::InvalidPrimary => {
                let tail = if frag.trim().is_empty() {
                    "but instead got nothing.".to_string()
                } else {
                    format!("at `{frag}`.")
                };
                format!(
                    "Was expecting an operation `=`, `!=`, `>=`, `>`, `<=`, `<`, `IN`, `NOT IN`, `TO`, `EXISTS`, `NOT EXISTS`, `IS NULL`, `IS NOT NULL`, `IS EMPTY`, `IS NOT EMPTY`, `CONTAINS`, `NOT CONTAINS`, `STARTS WITH`, `NOT STARTS WITH`, `_geoRadius`, or `_geoBoundingBox` {tail}"
                )
            }
            ErrKind::ExpectedEof => {
                format!(
                    "Found unexpected characters at the end of the filter: `{frag}`. You probably forgot an `OR` or an `AND` rule."
                )
            }
            ErrKind::InOpening => "Expected `[` after `IN` keyword.".to_string(),
            ErrKind::InClosing => {
                "Expected matching `]` after the list of field names given to `IN[`".to_string()
            }
            ErrKind::InExpectedValue => format!(
                "Expected only comma-separated field names inside `IN[..]` but instead found `{frag}`."
            ),
            ErrKind::InExpectedValueKeyword => format!(
                "Expected only comma-separated field names inside `IN[..]` but instead found `{frag}`, which is a keyword. To use `{frag}` as a field name or a value, surround it by quotes."
            ),
            ErrKind::MalformedValue => format!("Malformed value: `{frag}`."),
        };
        ParseError {
            message,
            start,
            len,
            fatal,
        }
    }

    /// The whole filter.
    pub fn parse(&self) -> Result<Expr, ParseError> {
        let (expr, at) = self.or(0, 0)?;
        if at < self.chars.len() {
            return Err(self.err(ErrKind::ExpectedEof, at, self.chars.len() - at, true));
        }
        Ok(expr)
    }

    fn skip_ws(&self, mut at: usize) -> usize {
        while at < self.chars.len() && self.chars[at].is_whitespace() {
            at += 1;
        }
        at
    }

    fn is_value_char(c: char) -> bool {
        c.is_alphanumeric() || c == '_' || c == '-' || c == '.'
    }

    fn is_syntax_char(c: char) -> bool {
        c.is_whitespace() || matches!(c, '(' | ')' | '=' | '<' | '>' | '!')
    }

    /// The word made of value characters at `at` (no whitespace skipping).
    fn raw_word(&self, at: usize) -> Option<(String, usize)> {
        let mut end = at;
        while end < self.chars.len() && Self::is_value_char(self.chars[end]) {
            end += 1;
        }
        (end > at).then(|| (self.text(at, end - at), end))
    }

    /// `WS* keyword WS*` for an exact keyword.
    fn keyword(&self, at: usize, kw: &str) -> Option<usize> {
        let at = self.skip_ws(at);
        match self.raw_word(at) {
            Some((w, end)) if w == kw => Some(self.skip_ws(end)),
            _ => None,
        }
    }

    fn depth_check(&self, depth: usize, at: usize) -> Result<(), ParseError> {
        if depth > 200 {
            let mut e = self.err(ErrKind::InvalidPrimary, at, 0, true);
            e.message =
                "The filter exceeded the maximum depth limit. Try rewriting the filter so that it contains fewer nested conditions.".into();
            return Err(e);
        }
        Ok(())
    }

    fn or(&self, at: usize, depth: usize) -> PResult<Expr> {
        self.depth_check(depth, at)?;
        let (first, mut at) = self.and(at, depth + 1)?;
        let mut items = vec![first];
        while let Some(next) = self.keyword(at, "OR") {
            let (e, end) = self.and(next, depth + 1).map_err(fatal)?;
            items.push(e);
            at = end;
        }
        Ok((
            if items.len() == 1 {
                items.remove(0)
            } else {
                Expr::Or(items)
            },
            at,
        ))
    }

    fn and(&self, at: usize, depth: usize) -> PResult<Expr> {
        self.depth_check(depth, at)?;
        let (first, mut at) = self.not(at, depth + 1)?;
        let mut items = vec![first];
        while let Some(next) = self.keyword(at, "AND") {
            let (e, end) = self.not(next, depth + 1).map_err(fatal)?;
            items.push(e);
            at = end;
        }
        Ok((
            if items.len() == 1 {
                items.remove(0)
            } else {
                Expr::And(items)
            },
            at,
        ))
    }

    fn not(&self, at: usize, depth: usize) -> PResult<Expr> {
        self.depth_check(depth, at)?;
        if let Some(next) = self.keyword(at, "NOT") {
            let (e, end) = self.not(next, depth + 1).map_err(fatal)?;
            let e = match e {
                Expr::Not(inner) => *inner,
                other => Expr::Not(Box::new(other)),
            };
            return Ok((e, end));
        }
        self.primary(at, depth + 1)
    }

    fn primary(&self, at: usize, depth: usize) -> PResult<Expr> {
        self.depth_check(depth, at)?;
        let start = self.skip_ws(at);
        if self.chars.get(start) == Some(&'(') {
            let inner = self.skip_ws(start + 1);
            let (e, end) = self.or(inner, depth + 1).map_err(fatal)?;
            let end = self.skip_ws(end);
            if self.chars.get(end) != Some(&')') {
                return Err(self.err(
                    ErrKind::MissingClosing(')'),
                    at,
                    self.chars.len() - at,
                    true,
                ));
            }
            return Ok((e, self.skip_ws(end + 1)));
        }
        let alternatives: [&dyn Fn(usize) -> PResult<Expr>; 6] = [
            &|a| self.in_list(a),
            &|a| self.condition(a),
            &|a| self.postfix(a),
            &|a| self.to(a),
            &|a| self.contains(a),
            &|a| self.geo(a),
        ];
        for alt in alternatives {
            match alt(at) {
                Ok(r) => return Ok(r),
                Err(e) if e.fatal => return Err(e),
                Err(_) => {}
            }
        }
        // A reserved keyword where a field name was expected is worth its own message.
        if let Err(e) = self.value(at)
            && (e.fatal || e.message.contains("reserved keyword"))
        {
            return Err(ParseError { fatal: true, ..e });
        }
        Err(self.err(ErrKind::InvalidPrimary, at, self.chars.len() - at, false))
    }

    /// `WS* (word | 'quoted' | "quoted") WS*`.
    fn value(&self, at: usize) -> PResult<Tok> {
        let start = self.skip_ws(at);
        let error_word_len = |s: usize| {
            let mut e = s;
            while e < self.chars.len() && !Self::is_syntax_char(self.chars[e]) {
                e += 1;
            }
            e - s
        };
        match self.chars.get(start) {
            Some(&q) if q == '\'' || q == '"' => {
                let mut i = start + 1;
                let mut value = String::new();
                while i < self.chars.len() {
                    let c = self.chars[i];
                    if c == q {
                        let tok = Tok::new(value, start + 1, i - start - 1, self.source);
                        return Ok((tok, self.skip_ws(i + 1)));
                    }
                    if c == '\\' {
                        let Some(&next) = self.chars.get(i + 1) else {
                            return Err(self.err(
                                ErrKind::MalformedValue,
                                start + 1,
                                i - start,
                                false,
                            ));
                        };
                        value.push(match next {
                            'n' => '\n',
                            't' => '\t',
                            'r' => '\r',
                            '0' => '\0',
                            other => other,
                        });
                        i += 2;
                        continue;
                    }
                    value.push(c);
                    i += 1;
                }
                Err(self.err(
                    ErrKind::MissingClosing(q),
                    start,
                    self.chars.len() - start,
                    true,
                ))
            }
            _ => match self.raw_word(start) {
                Some((w, end)) => {
                    if KEYWORDS.contains(&w.as_str()) {
                        return Err(self.err(
                            ErrKind::ExpectedValueKeyword,
                            start,
                            end - start,
                            false,
                        ));
                    }
                    Ok((
                        Tok::new(w, start, end - start, self.source),
                        self.skip_ws(end),
                    ))
                }
                None => Err(self.err(ErrKind::ExpectedValue, start, error_word_len(start), false)),
            },
        }
    }

    fn value_cut(&self, at: usize) -> PResult<Tok> {
        self.value(at).map_err(fatal)
    }

    fn in_list(&self, at: usize) -> PResult<Expr> {
        let (field, after) = self.value(at)?;
        let (negated, after_in) = match self.keyword(after, "IN") {
            Some(a) => (false, a),
            None => match self
                .keyword(after, "NOT")
                .and_then(|a| self.keyword(a, "IN"))
            {
                Some(a) => (true, a),
                None => return Err(self.err(ErrKind::InvalidPrimary, at, 0, false)),
            },
        };
        if self.chars.get(after_in) != Some(&'[') {
            return Err(self.err(
                ErrKind::InOpening,
                after_in,
                self.chars.len() - after_in,
                true,
            ));
        }
        let mut pos = after_in + 1;
        let mut values = Vec::new();
        // value ("," value)* ","?
        if let Ok((v, end)) = self.value(pos) {
            values.push(v);
            pos = end;
            loop {
                let p = self.skip_ws(pos);
                if self.chars.get(p) != Some(&',') {
                    break;
                }
                let after_comma = self.skip_ws(p + 1);
                match self.value(after_comma) {
                    Ok((v, end)) => {
                        values.push(v);
                        pos = end;
                    }
                    Err(e) if e.fatal => return Err(e),
                    Err(_) => {
                        pos = after_comma;
                        break;
                    }
                }
            }
        } else if let Err(e) = self.value(pos)
            && e.fatal
        {
            return Err(e);
        }
        let p = self.skip_ws(pos);
        if self.chars.get(p) != Some(&']') {
            if p >= self.chars.len() {
                return Err(self.err(ErrKind::InClosing, p, 0, true));
            }
            let keyword =
                matches!(self.raw_word(p), Some((w, _)) if KEYWORDS.contains(&w.as_str()));
            let kind = if keyword {
                ErrKind::InExpectedValueKeyword
            } else {
                ErrKind::InExpectedValue
            };
            return Err(self.err(kind, p, self.chars.len() - p, true));
        }
        let e = Expr::In { field, values };
        let e = if negated { Expr::Not(Box::new(e)) } else { e };
        Ok((e, self.skip_ws(p + 1)))
    }

    fn condition(&self, at: usize) -> PResult<Expr> {
        let (field, after) = self.value(at)?;
        let ops: [(&str, MakeCond); 6] = [
            ("<=", Cond::Lte),
            (">=", Cond::Gte),
            ("!=", Cond::Ne),
            ("<", Cond::Lt),
            (">", Cond::Gt),
            ("=", Cond::Eq),
        ];
        for (op, make) in ops {
            let matched = op
                .chars()
                .enumerate()
                .all(|(k, c)| self.chars.get(after + k) == Some(&c));
            if matched {
                let (value, end) = self.value_cut(after + op.chars().count())?;
                return Ok((
                    Expr::Cond {
                        field,
                        cond: make(value),
                    },
                    end,
                ));
            }
        }
        Err(self.err(ErrKind::InvalidPrimary, at, 0, false))
    }

    /// `EXISTS`, `NOT EXISTS`, `IS [NOT] NULL`, `IS [NOT] EMPTY`.
    fn postfix(&self, at: usize) -> PResult<Expr> {
        let (field, after) = self.value(at)?;
        let wrap = |cond: Cond, negated: bool, end: usize, field: Tok| {
            let e = Expr::Cond { field, cond };
            Ok((if negated { Expr::Not(Box::new(e)) } else { e }, end))
        };
        if let Some(end) = self.keyword(after, "EXISTS") {
            return wrap(Cond::Exists, false, end, field);
        }
        if let Some(end) = self
            .keyword(after, "NOT")
            .and_then(|a| self.keyword(a, "EXISTS"))
        {
            return wrap(Cond::Exists, true, end, field);
        }
        if let Some(a) = self.keyword(after, "IS") {
            let (negated, a) = match self.keyword(a, "NOT") {
                Some(b) => (true, b),
                None => (false, a),
            };
            if let Some(end) = self.keyword(a, "NULL") {
                return wrap(Cond::IsNull, negated, end, field);
            }
            if let Some(end) = self.keyword(a, "EMPTY") {
                return wrap(Cond::IsEmpty, negated, end, field);
            }
        }
        Err(self.err(ErrKind::InvalidPrimary, at, 0, false))
    }

    fn to(&self, at: usize) -> PResult<Expr> {
        let (field, after) = self.value(at)?;
        let (from, after) = self.value(after)?;
        let Some(after_to) = self.keyword(after, "TO") else {
            return Err(self.err(ErrKind::InvalidPrimary, at, 0, false));
        };
        let (to, end) = self.value_cut(after_to)?;
        Ok((
            Expr::Cond {
                field,
                cond: Cond::Between(from, to),
            },
            end,
        ))
    }

    fn contains(&self, at: usize) -> PResult<Expr> {
        let (field, after) = self.value(at)?;
        let (negated, after) = match self.keyword(after, "NOT") {
            Some(a) => (true, a),
            None => (false, after),
        };
        let (cond_of, after): (fn(Tok) -> Cond, usize) =
            if let Some(a) = self.keyword(after, "CONTAINS") {
                (Cond::Contains, a)
            } else if let Some(a) = self
                .keyword(after, "STARTS")
                .and_then(|a| self.keyword(a, "WITH"))
            {
                (Cond::StartsWith, a)
            } else {
                return Err(self.err(ErrKind::InvalidPrimary, at, 0, false));
            };
        let (value, end) = self.value_cut(after)?;
        let e = Expr::Cond {
            field,
            cond: cond_of(value),
        };
        Ok((if negated { Expr::Not(Box::new(e)) } else { e }, end))
    }

    /// Geo filters are recognised (so that they get their own error) but not supported.
    fn geo(&self, at: usize) -> PResult<Expr> {
        let start = self.skip_ws(at);
        if let Some((w, _)) = self.raw_word(start)
            && matches!(
                w.as_str(),
                "_geoRadius" | "_geoBoundingBox" | "_geoPoint" | "_geo" | "_geoDistance"
            )
        {
            let mut e = self.err(ErrKind::InvalidPrimary, start, w.chars().count(), true);
            e.message = format!(
                "The `{w}` filter is not supported by this node: it does not index `_geo`."
            );
            return Err(e);
        }
        Err(self.err(ErrKind::InvalidPrimary, at, 0, false))
    }
}

fn fatal(e: ParseError) -> ParseError {
    ParseError { fatal: true, ..e }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn show(s: &str) -> String {
        match Parser::new(s, 0).parse() {
            Ok(e) => e.to_string(),
            Err(e) => format!("ERR {} @{}+{}", e.message, e.start, e.len),
        }
    }

    #[test]
    fn operators_and_precedence() {
        assert_eq!(show("a = 1"), "a = 1");
        assert_eq!(
            show("a != x AND b > 2 OR c <= 3"),
            "((a != x AND b > 2) OR c <= 3)"
        );
        assert_eq!(
            show("a = 1 AND (b = 2 OR c = 3)"),
            "(a = 1 AND (b = 2 OR c = 3))"
        );
        assert_eq!(show("NOT a = 1"), "NOT (a = 1)");
        assert_eq!(show("NOT NOT a = 1"), "a = 1");
        assert_eq!(
            show("a >= 1 AND a < 5 AND b 1 TO 5"),
            "(a >= 1 AND a < 5 AND b 1 TO 5)"
        );
        assert_eq!(show("a IN [x, 'y z', ]"), "a IN [x, y z]");
        assert_eq!(show("a NOT IN [x]"), "NOT (a IN [x])");
        assert_eq!(
            show("a EXISTS AND b NOT EXISTS"),
            "(a EXISTS AND NOT (b EXISTS))"
        );
        assert_eq!(
            show("a IS NULL OR a IS NOT NULL"),
            "(a IS NULL OR NOT (a IS NULL))"
        );
        assert_eq!(
            show("a IS EMPTY AND a IS NOT EMPTY"),
            "(a IS EMPTY AND NOT (a IS EMPTY))"
        );
        assert_eq!(
            show("a CONTAINS x AND a NOT STARTS WITH y"),
            "(a CONTAINS x AND NOT (a STARTS WITH y))"
        );
        assert_eq!(
            show("\"dog race\" = 'Bernese \\'Mountain\\''"),
            "dog race = Bernese 'Mountain'"
        );
        assert_eq!(show("doggo.name = kefir"), "doggo.name = kefir");
    }

    #[test]
    fn errors_point_at_the_culprit() {
        assert_eq!(
            show("major >"),
            "ERR Was expecting a value but instead got nothing. @7+0"
        );
        assert!(show("title Joker").starts_with("ERR Was expecting an operation `=`, `!=`"));
        assert!(show("title Joker").ends_with("at `title Joker`. @0+11"));
        assert_eq!(
            show("a = 1 b"),
            "ERR Found unexpected characters at the end of the filter: `b`. You probably forgot an `OR` or an `AND` rule. @6+1"
        );
        assert_eq!(
            show("(a = 1"),
            "ERR Expression `(a = 1` is missing the following closing delimiter: `)`. @0+6"
        );
        assert_eq!(
            show("a = \"x"),
            "ERR Expression `\\\"x` is missing the following closing delimiter: `\"`. @4+2"
        );
        assert_eq!(show("a IN x"), "ERR Expected `[` after `IN` keyword. @5+1");
        assert_eq!(
            show("a IN [x"),
            "ERR Expected matching `]` after the list of field names given to `IN[` @7+0"
        );
        assert!(show("a = 1 AND").contains("but instead got nothing."));
        assert!(show("AND = 1").contains("which is a reserved keyword"));
    }
}
