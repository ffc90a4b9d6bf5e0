//! Folders of PNG images, one folder per class as torchvision's ImageFolder reads them:
//! `DIR/<class>/*.png`, or `DIR/train/<class>/...` and `DIR/test/<class>/...`. Classes are
//! the folders' names; grayscale images stay one channel, colour ones three (alpha dropped;
//! palettes expanded; 16-bit to 8), stored channels first (C, H, W) as torchvision's
//! ToTensor gives them; every image of one size.

use super::{bad, list_dir, DataError, Fingerprint, RawLabels, Table, Values};
use std::path::{Path, PathBuf};

/// One image decoded: its channels, height, width, and values channels first.
struct Image {
    shape: [usize; 3],
    values: Vec<u8>,
}

fn decode(path: &Path, bytes: &[u8]) -> Result<Image, DataError> {
    let fail = |e: png::DecodingError| bad(path, format!("not a PNG image mlp-gpu reads: {e}"));
    let mut decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder.read_info().map_err(fail)?;
    let size = reader
        .output_buffer_size()
        .ok_or_else(|| bad(path, "is too large an image"))?;
    let mut buf = vec![0u8; size];
    let info = reader.next_frame(&mut buf).map_err(fail)?;
    let (w, h) = (info.width as usize, info.height as usize);
    let (stored, kept) = match info.color_type {
        png::ColorType::Grayscale => (1, 1),
        png::ColorType::GrayscaleAlpha => (2, 1),
        png::ColorType::Rgb => (3, 3),
        png::ColorType::Rgba => (4, 3),
        png::ColorType::Indexed => return Err(bad(path, "has a palette mlp-gpu cannot expand")),
    };
    let pixels = &buf[..w * h * stored];
    let mut values = vec![0u8; kept * h * w];
    for c in 0..kept {
        for (p, px) in pixels.chunks(stored).enumerate() {
            values[c * h * w + p] = px[c];
        }
    }
    Ok(Image {
        shape: [kept, h, w],
        values,
    })
}

/// The class folders of `dir` and their .png files, each sorted.
fn class_folders(dir: &Path) -> Result<Vec<(String, Vec<PathBuf>)>, DataError> {
    let mut out = Vec::new();
    for sub in list_dir(dir)?.into_iter().filter(|p| p.is_dir()) {
        let name = sub
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        let pngs = pngs(&sub)?;
        if !pngs.is_empty() {
            out.push((name, pngs));
        }
    }
    Ok(out)
}

/// Image formats mlp-gpu does not decode: refused, not skipped, so that a folder of mixed
/// formats never trains on part of its images unawares.
const OTHER_IMAGES: [&str; 8] = ["jpg", "jpeg", "bmp", "gif", "webp", "tif", "tiff", "ppm"];

/// The .png files of `dir`, sorted; other files (notes, .DS_Store) are not images and are
/// skipped, as torchvision's ImageFolder skips them.
fn pngs(dir: &Path) -> Result<Vec<PathBuf>, DataError> {
    let mut out = Vec::new();
    for p in list_dir(dir)?.into_iter().filter(|p| p.is_file()) {
        let ext = p.extension().map(|e| e.to_string_lossy().to_lowercase());
        match ext.as_deref() {
            Some("png") => out.push(p),
            Some(e) if OTHER_IMAGES.contains(&e) => {
                return Err(bad(
                    &p,
                    "mlp-gpu reads PNG images only; convert the images to PNG (for example `mogrify -format png *.jpg`)",
                ))
            }
            _ => {}
        }
    }
    Ok(out)
}

/// The images of `files` as one table (labels: each file's class, if given), all of one
/// shape; rows named by their paths under `root`.
fn table(
    root: &Path,
    files: &[(Option<String>, PathBuf)],
    fp: &mut Fingerprint,
) -> Result<Table, DataError> {
    let mut values = Vec::new();
    let mut shape: Option<([usize; 3], PathBuf)> = None;
    for (_, path) in files {
        // named by its path under the root: its class folder is its label
        let bytes = std::fs::read(path).map_err(|e| bad(path, format!("cannot read: {e}")))?;
        let name = path.strip_prefix(root).unwrap_or(path).to_string_lossy();
        fp.add_named(&name, &bytes);
        let img = decode(path, &bytes)?;
        match &shape {
            None => shape = Some((img.shape, path.clone())),
            Some((s, first)) if *s != img.shape => {
                return Err(bad(
                    path,
                    format!(
                        "is {}x{} with {} channels, but {} is {}x{} with {}; every image must be one size",
                        img.shape[1], img.shape[2], img.shape[0], first.display(), s[1], s[2], s[0]
                    ),
                ))
            }
            Some(_) => {}
        }
        values.extend_from_slice(&img.values);
    }
    let Some(([c, h, w], _)) = shape else {
        return Err(bad(root, "holds no .png images"));
    };
    let labels: Option<Vec<String>> = files.iter().map(|(l, _)| l.clone()).collect();
    let names = files
        .iter()
        .map(|(_, p)| p.strip_prefix(root).unwrap_or(p).display().to_string())
        .collect();
    Ok(Table {
        values: Values::U8(values),
        // grayscale images keep their 2-D shape, as IDX files have it
        shape: if c == 1 { vec![h, w] } else { vec![c, h, w] },
        labels: labels.map(RawLabels::Text),
        names: Some(names),
        columns: None,
        origin: root.to_path_buf(),
        labels_origin: root.to_path_buf(),
        first_row: 0,
        row_unit: "image",
    })
}

/// One folder of class folders as a labelled table.
fn labelled(dir: &Path, fp: &mut Fingerprint) -> Result<Table, DataError> {
    let classes = class_folders(dir)?;
    if classes.is_empty() {
        return Err(bad(
            dir,
            "holds no class folders of .png images (DIR/<class>/*.png)",
        ));
    }
    let files: Vec<(Option<String>, PathBuf)> = classes
        .into_iter()
        .flat_map(|(class, files)| files.into_iter().map(move |f| (Some(class.clone()), f)))
        .collect();
    table(dir, &files, fp)
}

/// `DIR/<class>/*.png`, or `DIR/train/<class>/...` with `DIR/test/<class>/...`.
pub fn read(dir: &Path, fp: &mut Fingerprint) -> Result<(Table, Option<Table>), DataError> {
    let (train, test) = (dir.join("train"), dir.join("test"));
    if train.is_dir() {
        let test = if test.is_dir() {
            Some(labelled(&test, fp)?)
        } else {
            None
        };
        return Ok((labelled(&train, fp)?, test));
    }
    Ok((labelled(dir, fp)?, None))
}

/// One part of a folder of images (a test set, or images to predict): its test/ folder if
/// it has one, else the folder itself, of class folders (labelled) or of images (flat).
pub fn read_inputs(dir: &Path, fp: &mut Fingerprint) -> Result<Table, DataError> {
    if dir.join("test").is_dir() {
        return labelled(&dir.join("test"), fp);
    }
    let flat = pngs(dir)?;
    if flat.is_empty() {
        return labelled(dir, fp);
    }
    let files: Vec<(Option<String>, PathBuf)> = flat.into_iter().map(|p| (None, p)).collect();
    table(dir, &files, fp)
}
