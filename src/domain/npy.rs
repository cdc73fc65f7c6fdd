//! A small reader and writer of NumPy `.npy` files (format versions 1–3): little-endian
//! `f8`, `f4`, `i8` or `i4` arrays of one or two dimensions in C order, read as `f64`.
//! (A dependency such as `ndarray-npy` would bring `ndarray` for two functions.)

use std::io::Write;

/// An array read from a `.npy` file: its shape (one or two dimensions) and its values in C
/// (row-major) order.
#[derive(Debug, Clone, PartialEq)]
pub struct NpyArray {
    /// The shape: `[n]` or `[n, k]`.
    pub shape: Vec<usize>,
    /// The values, row-major.
    pub data: Vec<f64>,
}

/// Parses the bytes of a `.npy` file; the error says what is wrong.
pub fn parse(bytes: &[u8]) -> Result<NpyArray, String> {
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err("not a .npy file (no \\x93NUMPY magic)".into());
    }
    let (hlen, start) = match bytes[6] {
        1 => (usize::from(u16::from_le_bytes([bytes[8], bytes[9]])), 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        v => return Err(format!("unsupported .npy version {v}")),
    };
    let header = bytes
        .get(start..start + hlen)
        .and_then(|h| std::str::from_utf8(h).ok())
        .ok_or("truncated or unreadable .npy header")?;
    let field = |name: &str| -> Result<&str, String> {
        let key = format!("'{name}':");
        let i = header
            .find(&key)
            .ok_or_else(|| format!(".npy header has no '{name}'"))?;
        Ok(header[i + key.len()..].trim_start())
    };
    let descr = field("descr")?;
    let descr = descr
        .strip_prefix('\'')
        .and_then(|d| d.split('\'').next())
        .ok_or("bad 'descr' in .npy header")?;
    let width = match descr {
        "<f8" | "<i8" => 8,
        "<f4" | "<i4" => 4,
        d => {
            return Err(format!(
                "unsupported dtype {d} (allowed: <f8, <f4, <i8, <i4)"
            ))
        }
    };
    if field("fortran_order")?.starts_with("True") {
        return Err("Fortran-ordered arrays are not supported".into());
    }
    let shape_text = field("shape")?;
    let shape_text = shape_text
        .strip_prefix('(')
        .and_then(|s| s.split(')').next())
        .ok_or("bad 'shape' in .npy header")?;
    let shape: Vec<usize> = shape_text
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse()
                .map_err(|_| format!("bad dimension {s} in 'shape'"))
        })
        .collect::<Result<_, _>>()?;
    if shape.is_empty() || shape.len() > 2 {
        return Err(format!("{} dimensions (allowed: 1 or 2)", shape.len()));
    }
    let body = &bytes[start + hlen..];
    let size = shape
        .iter()
        .try_fold(width, |acc: usize, &d| acc.checked_mul(d))
        .filter(|&b| b <= isize::MAX as usize);
    let Some(size) = size else {
        return Err(format!("shape {shape:?} is too large (its size overflows)"));
    };
    let count = size / width;
    if body.len() != size {
        return Err(format!(
            "{} bytes of data, expected {} for shape {shape:?}",
            body.len(),
            count * width
        ));
    }
    let data = body
        .chunks_exact(width)
        .map(|c| match (descr, c.try_into()) {
            ("<f8", Ok(b)) => f64::from_le_bytes(b),
            ("<i8", Ok(b)) => i64::from_le_bytes(b) as f64,
            ("<f4", _) => f64::from(f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
            _ => f64::from(i32::from_le_bytes([c[0], c[1], c[2], c[3]])),
        })
        .collect();
    Ok(NpyArray { shape, data })
}

/// Writes a `<f8` array of shape `shape` (one or two dimensions, C order), format version 1.
pub fn write(out: &mut impl Write, shape: &[usize], data: &[f64]) -> std::io::Result<()> {
    let dims: Vec<String> = shape.iter().map(usize::to_string).collect();
    let shape_text = if dims.len() == 1 {
        format!("({},)", dims[0])
    } else {
        format!("({})", dims.join(", "))
    };
    let mut header = format!("{{'descr': '<f8', 'fortran_order': False, 'shape': {shape_text}, }}");
    // Magic (6) + version (2) + length (2) + header + newline, padded to a multiple of 64.
    let pad = (64 - (10 + header.len() + 1) % 64) % 64;
    header.push_str(&" ".repeat(pad));
    header.push('\n');
    out.write_all(b"\x93NUMPY\x01\x00")?;
    out.write_all(&(header.len() as u16).to_le_bytes())?;
    out.write_all(header.as_bytes())?;
    for x in data {
        out.write_all(&x.to_le_bytes())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_refusals() {
        let mut buf = Vec::new();
        write(&mut buf, &[2, 3], &[1.0, 2.0, 3.0, 4.5, -5.0, 6.25]).unwrap();
        assert_eq!(buf.len() % 16, 0);
        let a = parse(&buf).unwrap();
        assert_eq!(a.shape, vec![2, 3]);
        assert_eq!(a.data, vec![1.0, 2.0, 3.0, 4.5, -5.0, 6.25]);
        let mut buf = Vec::new();
        write(&mut buf, &[2], &[7.0, 8.0]).unwrap();
        assert_eq!(parse(&buf).unwrap().shape, vec![2]);
        assert!(parse(&buf[..buf.len() - 1])
            .unwrap_err()
            .contains("bytes of data"));
        assert!(parse(b"hello world").unwrap_err().contains("magic"));
    }
}
