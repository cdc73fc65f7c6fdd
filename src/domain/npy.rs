//! The data directories' NumPy `.npy` files: little-endian `f8`, `f4`, `i8` or `i4` arrays of
//! one or two dimensions in C order, read as `f64`; the format itself (header, versions 1–3)
//! is read and written by [`crate::npz`].

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
    let crate::npz::NpyHeader { descr, shape, body } = crate::npz::npy_header(bytes)?;
    let width = match descr {
        "<f8" | "<i8" => 8,
        "<f4" | "<i4" => 4,
        d => {
            return Err(format!(
                "unsupported dtype {d} (allowed: <f8, <f4, <i8, <i4)"
            ))
        }
    };
    if shape.is_empty() || shape.len() > 2 {
        return Err(format!("{} dimensions (allowed: 1 or 2)", shape.len()));
    }
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

/// Writes a `<f8` array of shape `shape` (one or two dimensions, C order), format version 1
/// ([`crate::npz::npy_bytes`], the one writer of the format).
pub fn write(out: &mut impl Write, shape: &[usize], data: &[f64]) -> std::io::Result<()> {
    out.write_all(&crate::npz::npy_bytes(&crate::npz::NamedArray::f64(
        "",
        shape,
        data.to_vec(),
    )))
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
