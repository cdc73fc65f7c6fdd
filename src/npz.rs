//! NumPy's `.npz` files: a ZIP archive of `.npy` arrays, one per name, as `numpy.savez` writes
//! and `numpy.load` reads. Arrays of `float64` (`<f8`), `int64` (`<i8`) and Unicode text
//! (`<U…`) of any shape in C order. Written uncompressed ("stored"), as `numpy.savez` does; read
//! stored or deflated (`numpy.savez_compressed`). Our own ~250 lines: the `zip` crate that would
//! do it needs a newer Rust than this project's and brings a dozen crates for features not used
//! here (README, *Design*).

use std::io::{Read, Write};
use std::path::Path;

/// The values of an array.
#[derive(Debug, Clone, PartialEq)]
pub enum ArrayData {
    /// `float64`.
    F64(Vec<f64>),
    /// `int64`.
    I64(Vec<i64>),
    /// One Unicode string (an array of shape `()`).
    Text(String),
}

/// A named array of a `.npz` file.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedArray {
    /// Its name (the entry `name.npy`).
    pub name: String,
    /// Its shape, C order (`[]` for a scalar).
    pub shape: Vec<usize>,
    /// Its values.
    pub data: ArrayData,
}

impl NamedArray {
    /// A `float64` array.
    pub fn f64(name: &str, shape: &[usize], values: Vec<f64>) -> Self {
        debug_assert_eq!(shape.iter().product::<usize>(), values.len(), "{name}");
        Self {
            name: name.to_string(),
            shape: shape.to_vec(),
            data: ArrayData::F64(values),
        }
    }

    /// An `int64` scalar.
    pub fn int(name: &str, value: i64) -> Self {
        Self {
            name: name.to_string(),
            shape: Vec::new(),
            data: ArrayData::I64(vec![value]),
        }
    }

    /// An `int64` vector.
    pub fn ints(name: &str, values: Vec<i64>) -> Self {
        Self {
            name: name.to_string(),
            shape: vec![values.len()],
            data: ArrayData::I64(values),
        }
    }

    /// A text scalar.
    pub fn text(name: &str, value: String) -> Self {
        Self {
            name: name.to_string(),
            shape: Vec::new(),
            data: ArrayData::Text(value),
        }
    }

    /// The `float64` values, if the array holds them.
    pub fn as_f64(&self) -> Option<&[f64]> {
        match &self.data {
            ArrayData::F64(v) => Some(v),
            _ => None,
        }
    }
}

/// The bytes of `a` as a `.npy` file (format 1.0; the header padded to 64 bytes).
pub fn npy_bytes(a: &NamedArray) -> Vec<u8> {
    let (descr, body): (String, Vec<u8>) = match &a.data {
        ArrayData::F64(v) => (
            "<f8".into(),
            v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        ),
        ArrayData::I64(v) => (
            "<i8".into(),
            v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        ),
        ArrayData::Text(s) => {
            let chars: Vec<char> = s.chars().collect();
            // NumPy has no zero-width Unicode dtype: an empty string is `<U1` with a NUL.
            let width = chars.len().max(1);
            let mut body: Vec<u8> = chars
                .iter()
                .flat_map(|&c| (c as u32).to_le_bytes())
                .collect();
            body.resize(4 * width, 0);
            (format!("<U{width}"), body)
        }
    };
    let shape = match a.shape.len() {
        0 => "()".to_string(),
        1 => format!("({},)", a.shape[0]),
        _ => format!(
            "({})",
            a.shape
                .iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    // Magic (6) + version (2) + length (2) + header + '\n', a multiple of 64.
    let unpadded = 10 + header.len() + 1;
    header.push_str(&" ".repeat(unpadded.next_multiple_of(64) - unpadded));
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + body.len());
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(&body);
    out
}

/// The header of a `.npy` file: its dtype (`descr`), its shape, and the bytes of its data.
#[derive(Debug, Clone, PartialEq)]
pub struct NpyHeader<'a> {
    /// The dtype, e.g. `<f8`.
    pub descr: &'a str,
    /// The shape (empty for a scalar).
    pub shape: Vec<usize>,
    /// The data after the header.
    pub body: &'a [u8],
}

/// Parses the header of the bytes of a `.npy` file (format versions 1–3; C order only): the
/// one reader of the format, for the `.npz` files here and the data directories' `.npy` files
/// ([`crate::domain::npy`]). The error says what is wrong.
pub fn npy_header(bytes: &[u8]) -> Result<NpyHeader<'_>, String> {
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err("not a .npy file (no \\x93NUMPY magic)".into());
    }
    let (hlen, start): (usize, usize) = match bytes[6] {
        1 => (usize::from(u16::from_le_bytes([bytes[8], bytes[9]])), 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        v => return Err(format!("unsupported .npy version {v}")),
    };
    let end = start
        .checked_add(hlen)
        .filter(|&e| e <= bytes.len())
        .ok_or("truncated or unreadable .npy header")?;
    let header = std::str::from_utf8(&bytes[start..end])
        .map_err(|_| "truncated or unreadable .npy header")?;
    let field = |key: &str| -> Result<&str, String> {
        let k = format!("'{key}':");
        let i = header
            .find(&k)
            .ok_or_else(|| format!(".npy header has no '{key}'"))?;
        Ok(header[i + k.len()..].trim_start())
    };
    let descr = field("descr")?
        .strip_prefix('\'')
        .and_then(|d| d.split('\'').next())
        .ok_or("bad 'descr' in .npy header")?;
    if field("fortran_order")?.starts_with("True") {
        return Err("Fortran-ordered arrays are not supported".into());
    }
    let shape: Vec<usize> = field("shape")?
        .strip_prefix('(')
        .and_then(|s| s.split(')').next())
        .ok_or("bad 'shape' in .npy header")?
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse()
                .map_err(|_| format!("bad dimension {s} in 'shape'"))
        })
        .collect::<Result<_, _>>()?;
    Ok(NpyHeader {
        descr,
        shape,
        body: &bytes[end..],
    })
}

/// The array named `name` in the bytes of a `.npy` file; the error says what is wrong.
pub fn parse_npy(name: &str, bytes: &[u8]) -> Result<NamedArray, String> {
    let NpyHeader { descr, shape, body } = npy_header(bytes)?;
    let count = shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or("the shape's size overflows")?;
    let expect = |width: usize| -> Result<(), String> {
        match count.checked_mul(width) {
            Some(n) if n == body.len() => Ok(()),
            _ => Err(format!(
                "{} bytes of data for shape {shape:?} of {descr}",
                body.len()
            )),
        }
    };
    let data = match descr {
        "<f8" => {
            expect(8)?;
            ArrayData::F64(
                body.chunks_exact(8)
                    .map(|c| f64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
                    .collect(),
            )
        }
        "<i8" => {
            expect(8)?;
            ArrayData::I64(
                body.chunks_exact(8)
                    .map(|c| i64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
                    .collect(),
            )
        }
        d if d.starts_with("<U") && shape.is_empty() => {
            let width: usize = d[2..].parse().map_err(|_| format!("bad dtype {d}"))?;
            expect(4 * width)?;
            let text: String = body
                .chunks_exact(4)
                .map(|c| u32::from_le_bytes(c.try_into().unwrap_or([0; 4])))
                .take_while(|&u| u != 0)
                .map(|u| char::from_u32(u).ok_or(format!("bad character {u:#x}")))
                .collect::<Result<_, _>>()?;
            ArrayData::Text(text)
        }
        d => {
            return Err(format!(
                "dtype {d} (allowed: <f8, <i8, and <U text of shape ())"
            ))
        }
    };
    Ok(NamedArray {
        name: name.to_string(),
        shape,
        data,
    })
}

/// Largest size of a `.npz` written (an archive without the Zip64 extension).
const MAX_ZIP: u64 = u32::MAX as u64;

/// Writes `arrays` as the `.npz` file `path` (each `name.npy`, stored), atomically: to a
/// temporary file beside it, renamed when complete.
pub fn write(path: &Path, arrays: &[NamedArray]) -> std::io::Result<()> {
    let mut files: Vec<(String, Vec<u8>)> = arrays
        .iter()
        .map(|a| (format!("{}.npy", a.name), npy_bytes(a)))
        .collect();
    let total: u64 = files
        .iter()
        .map(|(n, b)| (b.len() + 2 * n.len() + 76) as u64)
        .sum();
    if total >= MAX_ZIP {
        return Err(std::io::Error::other(format!(
            "{} bytes: too large for a .npz without Zip64 (4 GiB); save fewer checkpoints",
            total
        )));
    }
    let mut out: Vec<u8> = Vec::with_capacity(total as usize + 22);
    let mut central: Vec<u8> = Vec::new();
    for (name, data) in files.drain(..) {
        let offset = out.len() as u32;
        let crc = crc32fast::hash(&data);
        let size = data.len() as u32;
        // Local header: version 2.0, no flags, stored, time 0, date 1980-01-01.
        let common = |v: &mut Vec<u8>| {
            v.extend_from_slice(&20u16.to_le_bytes());
            v.extend_from_slice(&0u16.to_le_bytes());
            v.extend_from_slice(&0u16.to_le_bytes());
            v.extend_from_slice(&0u16.to_le_bytes());
            v.extend_from_slice(&0x21u16.to_le_bytes());
            v.extend_from_slice(&crc.to_le_bytes());
            v.extend_from_slice(&size.to_le_bytes());
            v.extend_from_slice(&size.to_le_bytes());
            v.extend_from_slice(&(name.len() as u16).to_le_bytes());
            v.extend_from_slice(&0u16.to_le_bytes());
        };
        out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        common(&mut out);
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(&data);
        central.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        central.extend_from_slice(&20u16.to_le_bytes());
        common(&mut central);
        // Comment length, disk, internal and external attributes, the local header's offset.
        central.extend_from_slice(&[0; 6]);
        central.extend_from_slice(&0u32.to_le_bytes());
        central.extend_from_slice(&offset.to_le_bytes());
        central.extend_from_slice(name.as_bytes());
    }
    let cd_offset = out.len() as u32;
    let n = arrays.len() as u16;
    out.extend_from_slice(&central);
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&n.to_le_bytes());
    out.extend_from_slice(&n.to_le_bytes());
    out.extend_from_slice(&(central.len() as u32).to_le_bytes());
    out.extend_from_slice(&cd_offset.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    let tmp = path.with_extension("npz.partial");
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&out)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}

/// Reads the arrays of the `.npz` file `path`, in the archive's order; the error says what is
/// wrong (not a ZIP archive, a damaged entry, an array of another type).
pub fn read(path: &Path) -> Result<Vec<NamedArray>, String> {
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    let u16_at = |i: usize| -> Result<usize, String> {
        bytes
            .get(i..i + 2)
            .map(|b| usize::from(u16::from_le_bytes([b[0], b[1]])))
            .ok_or_else(|| "truncated ZIP archive".to_string())
    };
    let u32_at = |i: usize| -> Result<usize, String> {
        bytes
            .get(i..i + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
            .ok_or_else(|| "truncated ZIP archive".to_string())
    };
    // The end-of-central-directory record: the last one, at most 64 KiB of comment from the end.
    let eocd = (0..bytes.len().saturating_sub(21))
        .rev()
        .take(65_536 + 22)
        .find(|&i| bytes[i..].starts_with(&0x0605_4b50u32.to_le_bytes()))
        .ok_or("not a .npz file (no ZIP directory)")?;
    let entries = u16_at(eocd + 10)?;
    let mut at = u32_at(eocd + 16)?;
    let mut out = Vec::with_capacity(entries);
    for _ in 0..entries {
        if u32_at(at)? != 0x0201_4b50 {
            return Err("damaged ZIP directory".into());
        }
        let method = u16_at(at + 10)?;
        let (packed, size) = (u32_at(at + 20)?, u32_at(at + 24)?);
        let (name_len, extra, comment) = (u16_at(at + 28)?, u16_at(at + 30)?, u16_at(at + 32)?);
        let local = u32_at(at + 42)?;
        let name = bytes
            .get(at + 46..at + 46 + name_len)
            .map(|n| String::from_utf8_lossy(n).into_owned())
            .ok_or("truncated ZIP directory")?;
        at += 46 + name_len + extra + comment;
        if u32_at(local)? != 0x0403_4b50 {
            return Err(format!("{name}: damaged ZIP entry"));
        }
        let start: usize = local + 30 + u16_at(local + 26)? + u16_at(local + 28)?;
        let raw = start
            .checked_add(packed)
            .and_then(|end| bytes.get(start..end))
            .ok_or_else(|| format!("{name}: truncated ZIP entry"))?;
        let data = match method {
            0 => raw.to_vec(),
            8 => {
                let mut v = Vec::with_capacity(size.min(1 << 30));
                flate2::read::DeflateDecoder::new(raw)
                    .take(size as u64 + 1)
                    .read_to_end(&mut v)
                    .map_err(|e| format!("{name}: {e}"))?;
                v
            }
            m => {
                return Err(format!(
                    "{name}: ZIP compression method {m} (allowed: stored, deflate)"
                ))
            }
        };
        if data.len() != size {
            return Err(format!(
                "{name}: {} bytes, the directory says {size}",
                data.len()
            ));
        }
        let stem = name.strip_suffix(".npy").unwrap_or(&name);
        out.push(parse_npy(stem, &data).map_err(|e| format!("{name}: {e}"))?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrays_round_trip_through_a_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("a.npz");
        let arrays = vec![
            NamedArray::f64("theta", &[3], vec![1.0, -0.0, f64::MIN_POSITIVE]),
            NamedArray::f64("logits", &[2, 1, 2], vec![0.5, 1.5, -2.0, 1e300]),
            NamedArray::f64("eta", &[], vec![0.95]),
            NamedArray::int("diverged_at", -1),
            NamedArray::ints("timestep", vec![0, 10, 300]),
            NamedArray::text("settings", "domain = \"chain\"\nη = 0.95\n".into()),
            NamedArray::text("empty", String::new()),
        ];
        write(&path, &arrays).expect("write");
        let back = read(&path).expect("read");
        assert_eq!(back, arrays);
        // Every header is padded to a multiple of 64 bytes, as numpy writes them.
        for a in &arrays {
            let b = npy_bytes(a);
            let hlen = u16::from_le_bytes([b[8], b[9]]) as usize;
            assert_eq!((10 + hlen) % 64, 0);
        }
    }

    #[test]
    fn damage_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("a.npz");
        write(&path, &[NamedArray::f64("x", &[2], vec![1.0, 2.0])]).expect("write");
        let bytes = std::fs::read(&path).expect("read");
        for cut in [0, 10, 40, bytes.len() / 2, bytes.len() - 1] {
            std::fs::write(&path, &bytes[..cut]).expect("write");
            assert!(read(&path).is_err(), "cut at {cut}");
        }
        let mut huge = npy_bytes(&NamedArray::f64("x", &[2], vec![1.0, 2.0]));
        let text = String::from_utf8_lossy(&huge).replace("(2,)", "(2305843009213693952, 3)");
        huge = text.into_bytes();
        assert!(parse_npy("x", &huge).is_err());
    }
}
