//! The pieces of the report page: escaping, embedded figures, tables from CSV files, and the
//! page's frame with its style sheet. The page is well-formed XML as well as HTML (void elements
//! closed, only the five XML entities), so that it can be checked by an XML parser.

use super::ReportError;
use base64::Engine as _;
use std::fmt::Write as _;
use std::path::Path;

/// Escapes text for an element's content or a quoted attribute value.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A `data:` URI of `bytes` (base64), for embedded images and downloads.
pub fn data_uri(mime: &str, bytes: &[u8]) -> String {
    format!(
        "data:{mime};base64,{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

fn read(path: &Path) -> Result<Vec<u8>, ReportError> {
    std::fs::read(path).map_err(|source| ReportError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// A file name for captions and downloads.
pub fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The `<svg>` element of an SVG file, for inlining: anything before it (an XML declaration, a
/// doctype, comments) is dropped.
pub fn inline_svg(path: &Path) -> Result<String, ReportError> {
    let bytes = read(path)?;
    let text = String::from_utf8(bytes).map_err(|_| ReportError::Image {
        path: path.to_path_buf(),
        message: "not UTF-8 text".into(),
    })?;
    let start = text.find("<svg").ok_or_else(|| ReportError::Image {
        path: path.to_path_buf(),
        message: "no <svg> element".into(),
    })?;
    let body = text[start..].trim_end();
    if !body.ends_with("</svg>") {
        return Err(ReportError::Image {
            path: path.to_path_buf(),
            message: "the <svg> element is not closed at the end of the file".into(),
        });
    }
    Ok(body.to_string())
}

/// An `<img>` of a PNG file as a `data:` URI, at the size its header gives.
pub fn inline_png(path: &Path, alt: &str) -> Result<String, ReportError> {
    const SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a];
    let bytes = read(path)?;
    if bytes.len() < 24 || bytes[..8] != SIGNATURE || &bytes[12..16] != b"IHDR" {
        return Err(ReportError::Image {
            path: path.to_path_buf(),
            message: "not a PNG image".into(),
        });
    }
    let be = |i: usize| u32::from_be_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
    Ok(format!(
        "<img src=\"{}\" width=\"{}\" height=\"{}\" alt=\"{}\"/>",
        data_uri("image/png", &bytes),
        be(16),
        be(20),
        esc(alt)
    ))
}

/// A link, reading `text`, that downloads `path` from the page itself (a `data:` URI), or `None`
/// when the file does not exist.
pub fn download_link(path: &Path, mime: &str, text: &str) -> Result<Option<String>, ReportError> {
    if !path.is_file() {
        return Ok(None);
    }
    Ok(Some(format!(
        "<a download=\"{}\" href=\"{}\">{}</a>",
        esc(&file_name(path)),
        data_uri(mime, &read(path)?),
        esc(text)
    )))
}

/// A CSV file's header and rows.
pub struct CsvTable {
    /// Column names.
    pub header: Vec<String>,
    /// Rows, each as long as the header or shorter.
    pub rows: Vec<Vec<String>>,
}

/// Reads a CSV file with a header line.
pub fn read_csv(path: &Path) -> Result<CsvTable, ReportError> {
    let csv_err = |source| ReportError::Csv {
        path: path.to_path_buf(),
        source,
    };
    let bytes = read(path)?;
    let mut r = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(bytes.as_slice());
    let header = r
        .headers()
        .map_err(csv_err)?
        .iter()
        .map(str::to_string)
        .collect();
    let mut rows = Vec::new();
    for rec in r.records() {
        rows.push(rec.map_err(csv_err)?.iter().map(str::to_string).collect());
    }
    Ok(CsvTable { header, rows })
}

/// A number to four significant digits (fixed or scientific notation, as is shorter to read).
fn four_digits(x: f64) -> String {
    if x == 0.0 || !x.is_finite() {
        return x.to_string();
    }
    let e = x.abs().log10().floor() as i32;
    if (-3..6).contains(&e) {
        format!("{:.*}", (3 - e).max(0) as usize, x)
    } else {
        format!("{x:.3e}")
    }
}

/// One table cell: numbers right-aligned, long ones shown to four significant digits with the
/// exact value as the cell's tooltip (the CSV linked next to the table has them all).
fn cell(tag: &str, text: &str) -> String {
    match text.parse::<f64>() {
        Ok(x) if text.len() > 8 && text.contains(['.', 'e', 'E']) => format!(
            "<{tag} class=\"num\" title=\"{}\">{}</{tag}>",
            esc(text),
            esc(&four_digits(x))
        ),
        Ok(_) => format!("<{tag} class=\"num\">{}</{tag}>", esc(text)),
        Err(_) => format!("<{tag}>{}</{tag}>", esc(text)),
    }
}

/// An HTML table of `t` with id `id`, in a scrolling box; `transpose` puts each column on a row
/// (for tables with few rows and many columns, such as the theory's checkpoints).
pub fn table(t: &CsvTable, id: &str, caption: &str, transpose: bool) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        "<div class=\"scroll\"><table id=\"{}\"><caption>{}</caption>",
        esc(id),
        esc(caption)
    );
    fn get(row: &[String], j: usize) -> &str {
        row.get(j).map(String::as_str).unwrap_or("")
    }
    if transpose {
        for (j, name) in t.header.iter().enumerate() {
            let _ = write!(s, "<tr><th scope=\"row\">{}</th>", esc(name));
            for row in &t.rows {
                s.push_str(&cell("td", get(row, j)));
            }
            s.push_str("</tr>");
        }
    } else {
        s.push_str("<thead><tr>");
        for h in &t.header {
            let _ = write!(s, "<th scope=\"col\">{}</th>", esc(h));
        }
        s.push_str("</tr></thead><tbody>");
        for row in &t.rows {
            s.push_str("<tr>");
            for j in 0..t.header.len().max(row.len()) {
                s.push_str(&cell("td", get(row, j)));
            }
            s.push_str("</tr>");
        }
        s.push_str("</tbody>");
    }
    s.push_str("</table></div>");
    s
}

/// The page's style sheet: no external resource (system fonts only).
const STYLE: &str = "
body { font-family: system-ui, sans-serif; margin: 0 auto; max-width: 80rem; padding: 1rem 2rem;
  color: #1a1a1a; background: #fff; line-height: 1.45; }
h1 { margin-bottom: 0.2rem; }
h2 { border-bottom: 1px solid #ccc; margin-top: 2.5rem; }
nav ul { columns: 2; }
table { border-collapse: collapse; font-size: 0.85rem; }
caption { text-align: left; font-weight: 600; padding: 0.3rem 0; }
th, td { border: 1px solid #ddd; padding: 0.15rem 0.45rem; vertical-align: top;
  white-space: nowrap; }
thead th { position: sticky; top: 0; background: #f3f3f3; }
th[scope=row] { text-align: left; background: #f7f7f7; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.scroll { max-height: 36rem; overflow: auto; margin: 0.5rem 0 1rem; }
figure.imprl-figure { margin: 1.5rem 0; }
figure.imprl-figure > svg, figure.imprl-figure > img { display: block; max-width: 100%;
  height: auto; border: 1px solid #eee; }
figcaption { font-size: 0.9rem; color: #444; }
.note { color: #555; }
code { font-size: 0.9em; }
";

/// The whole page around `body`; `figures` is the number of embedded figures (as the body's
/// `data-figures`, for checks of the page).
pub fn page(title: &str, figures: usize, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n\
         <body data-figures=\"{figures}\">\n{body}</body>\n</html>\n",
        esc(title)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_leaves_no_markup() {
        assert_eq!(
            esc(r#"<a href="x">&'"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }

    #[test]
    fn long_numbers_are_shortened_to_four_digits() {
        assert_eq!(four_digits(4.505487995731081), "4.505");
        assert_eq!(four_digits(-0.36356972113361447), "-0.3636");
        assert_eq!(four_digits(425.82893035828255), "425.8");
        assert_eq!(four_digits(0.00011276245958350927), "1.128e-4");
        assert!(cell("td", "4.505487995731081").contains("title=\"4.505487995731081\""));
        assert_eq!(cell("td", "0.95"), "<td class=\"num\">0.95</td>");
        assert_eq!(cell("td", "chain"), "<td>chain</td>");
    }
}
