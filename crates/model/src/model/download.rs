//! A VPS snapshot's download link: when it expires and a command that fetches it.

use chrono::{DateTime, Duration, Utc};

/// How long the API's links last when the link does not say (about a day).
pub const LINK_LIFETIME: Duration = Duration::hours(24);

/// When the link stops working: its `temp_url_expires` (an object-storage temporary URL's
/// Unix time), if it has one.
pub fn expires(url: &str) -> Option<DateTime<Utc>> {
    let query = url.split_once('?')?.1;
    let query = query.split('#').next().unwrap_or(query);
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix("temp_url_expires="))
        .and_then(|t| t.parse::<i64>().ok())
        .and_then(|t| DateTime::from_timestamp(t, 0))
}

/// A shell command that downloads the link into the current folder: `curl -fL -o FILE
/// 'URL'`, the file named by the URL's last path segment (letters, digits, `.`, `-`, `_`
/// only; else `snapshot.qcow2`), the URL single-quoted for the shell and any control
/// character in it percent-encoded (a pasted command never holds a line break or escape).
pub fn curl_command(url: &str) -> String {
    let url: String = url
        .chars()
        .map(|c| {
            if c.is_control() {
                let mut b = [0; 4];
                c.encode_utf8(&mut b)
                    .bytes()
                    .map(|x| format!("%{x:02X}"))
                    .collect()
            } else {
                c.to_string()
            }
        })
        .collect();
    let path = url.split(['?', '#']).next().unwrap_or(&url);
    let last = path.rsplit('/').next().unwrap_or("");
    let plain = !last.is_empty()
        && !last.starts_with('.')
        && last
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    let file = if plain { last } else { "snapshot.qcow2" };
    format!("curl -fL -o {file} '{}'", url.replace('\'', "'\\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_temporary_url_says_when_it_expires() {
        let url = "https://storage.gra.cloud.ovh.net/v1/AUTH_x/snap/s.qcow2?temp_url_sig=ab&temp_url_expires=1764700000";
        assert_eq!(
            expires(url).map(|t| t.to_rfc3339()),
            Some("2025-12-02T18:26:40+00:00".to_string())
        );
        assert_eq!(expires("https://example.invalid/snap?token=abc"), None);
        assert_eq!(expires("https://example.invalid/snap"), None);
        assert_eq!(expires("https://x.invalid/s?temp_url_expires=soon"), None);
    }

    #[test]
    fn the_curl_command_names_the_file_and_quotes_the_url() {
        assert_eq!(
            curl_command("https://x.invalid/v1/snapshots/vps-1/snapshot-7.qcow2?sig=a&b=c"),
            "curl -fL -o snapshot-7.qcow2 'https://x.invalid/v1/snapshots/vps-1/snapshot-7.qcow2?sig=a&b=c'"
        );
        // A name the shell could read as more than a file name is not used; a quote in the
        // URL stays inside the quoting.
        assert_eq!(
            curl_command("https://x.invalid/a;rm -rf ~'?q"),
            "curl -fL -o snapshot.qcow2 'https://x.invalid/a;rm -rf ~'\\''?q'"
        );
        assert_eq!(
            curl_command("https://x.invalid/s?a=1\n\u{1b}[2Jrm"),
            "curl -fL -o s 'https://x.invalid/s?a=1%0A%1B[2Jrm'"
        );
        assert_eq!(
            curl_command("https://x.invalid/"),
            "curl -fL -o snapshot.qcow2 'https://x.invalid/'"
        );
    }
}
