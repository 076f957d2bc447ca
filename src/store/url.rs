//! Store URLs: redaction for anything shown to a person.

/// Replaces the password of a URL, in the user-info part or a `password=` parameter, by `***`.
/// Works on URLs that do not parse, so an error about a bad URL cannot leak the secret either.
pub fn redact_url(url: &str) -> String {
    let mut out = url.to_string();
    if let Some(scheme_end) = out.find("://") {
        let rest_start = scheme_end + 3;
        let authority_end = out[rest_start..].find(['/', '?', '#']).map_or(out.len(), |i| rest_start + i);
        if let Some(at) = out[rest_start..authority_end].rfind('@') {
            let userinfo = &out[rest_start..rest_start + at];
            if let Some(colon) = userinfo.find(':') {
                out.replace_range(rest_start + colon + 1..rest_start + at, "***");
            }
        }
    }
    redact_query_param(&out, "password")
}

fn redact_query_param(url: &str, name: &str) -> String {
    let Some(q) = url.find('?') else {
        return url.to_string();
    };
    let (base, query) = url.split_at(q + 1);
    let redacted: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((k, _)) if k.eq_ignore_ascii_case(name) => format!("{k}=***"),
            _ => pair.to_string(),
        })
        .collect();
    format!("{base}{}", redacted.join("&"))
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn passwords_are_hidden_everywhere() {
        assert_eq!(redact_url("postgres://u:s3cret@h:5432/db"), "postgres://u:***@h:5432/db");
        assert_eq!(redact_url("postgres://u:p%40ss@w@h/db"), "postgres://u:***@h/db");
        assert_eq!(
            redact_url("postgresql://u@h/db?sslmode=require&password=s3cret"),
            "postgresql://u@h/db?sslmode=require&password=***"
        );
        assert_eq!(redact_url("sqlite://data/x.db"), "sqlite://data/x.db");
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
    }
}
