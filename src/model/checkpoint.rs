//! Reading mmaction2 checkpoints, handing their tensors out by key name, and reporting misfits.
//!
//! Two formats hold the same key names (`backbone.layer1.0.conv1.conv.weight`, `cls_head.fc_cls.bias`, …):
//! * `.pth` written by `torch.save` (zip container, pickle protocol 2): mmengine stores
//!   `{'meta': …, 'state_dict': …}`; a bare state dict is accepted too. The pickle is interpreted
//!   by candle's reader, which only rebuilds tensors and plain containers and never runs code.
//! * `.safetensors`, e.g. written by [`super::convert_checkpoint`].
//!
//! BatchNorm's `num_batches_tracked` counters are dropped on reading, and `data_preprocessor.*`
//! buffers (mean/std that older checkpoints saved) may stay unused. Every other tensor must be
//! consumed by the model: after building, [`Checkpoint::finish`] names the first one left over, just
//! as a request for an absent key or a wrong shape names that key. The shape queries at the end
//! are how a model card can leave out what the weights already say (depth, widths, kernels).

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use candle_core::pickle::read_pth_tensor_info;
use candle_core::{DType, Device, Tensor};

use crate::nn::with_slice;
use crate::{Error, Result};

/// Keys that may be present without being used by the network.
const IGNORABLE_PREFIX: &str = "data_preprocessor.";

/// All tensors of one checkpoint (as f32 on the CPU) and which of them the model has taken.
pub struct Checkpoint {
    path: PathBuf,
    tensors: HashMap<String, Tensor>,
    used: RefCell<BTreeSet<String>>,
}

impl Checkpoint {
    /// `Ok` when `path` is a regular file, else why it cannot be a checkpoint, before any work
    /// that would be lost (`--weights`, `convert`'s input).
    pub fn check_file(path: &Path) -> Result<()> {
        let cause = match std::fs::metadata(path) {
            Ok(meta) if meta.is_file() => return Ok(()),
            Ok(meta) if meta.is_dir() => "is a folder, not a checkpoint",
            Ok(_) => {
                "not a regular file (a checkpoint is read in pieces, out of order: save it to a file first)"
            }
            Err(_) if path == Path::new("-") => {
                "no such file (a checkpoint cannot come from standard input: save it to a file first)"
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => "no such file",
            Err(e) => return Err(checkpoint_error(path, format!("cannot open: {e}"))),
        };
        Err(checkpoint_error(path, cause))
    }

    /// Reads a `.pth` (zip) or `.safetensors` file, recognised by its first bytes.
    pub fn load(path: &Path) -> Result<Self> {
        Self::check_file(path)?;
        let mut tensors = read_tensors(path)?;
        // In name order, so that a message about one of them names the same one every run.
        tensors.sort_by(|(a, _), (b, _)| a.cmp(b));
        let mut out = HashMap::with_capacity(tensors.len());
        for (name, t) in tensors {
            if name.ends_with("num_batches_tracked") {
                continue;
            }
            let t = t.to_dtype(DType::F32).map_err(|e| checkpoint_error(path, format!("{name}: {e}")))?;
            if !with_slice(&t, |values| values.iter().all(|v| v.is_finite()))? {
                return Err(checkpoint_error(
                    path,
                    format!("{name}: holds NaN or infinite values (damaged?)"),
                ));
            }
            out.insert(name, t);
        }
        if out.is_empty() {
            return Err(checkpoint_error(path, "no tensors found"));
        }
        Ok(Checkpoint { path: path.to_owned(), tensors: out, used: RefCell::default() })
    }

    /// The key view of the whole checkpoint; layers built from it live on `device`.
    pub fn root<'a>(&'a self, device: &'a Device) -> Params<'a> {
        Params { ckpt: self, prefix: String::new(), device }
    }

    /// Fails naming the first (sorted) key that no layer asked for.
    pub fn finish(&self) -> Result<()> {
        let used = self.used.borrow();
        let mut unused: Vec<&String> =
            self.tensors.keys().filter(|k| !used.contains(*k) && !k.starts_with(IGNORABLE_PREFIX)).collect();
        unused.sort();
        match unused.first() {
            None => Ok(()),
            Some(k) => Err(self.error(format!(
                "unexpected key {k} ({} unused tensors): the architecture does not match these weights",
                unused.len()
            ))),
        }
    }

    /// All tensors by key (for conversion).
    pub fn tensors(&self) -> &HashMap<String, Tensor> {
        &self.tensors
    }

    fn error(&self, cause: impl Into<String>) -> Error {
        checkpoint_error(&self.path, cause)
    }
}

fn checkpoint_error(path: &Path, cause: impl Into<String>) -> Error {
    Error::Checkpoint { path: path.to_owned(), cause: cause.into() }
}

fn read_tensors(path: &Path) -> Result<Vec<(String, Tensor)>> {
    let mut magic = [0u8; 4];
    {
        use std::io::Read;
        let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        let meta = f.metadata().map_err(|e| Error::io(path, e))?;
        let len = meta.len();
        if meta.is_file() && len < magic.len() as u64 {
            let what = if len == 0 { "an empty file" } else { "a file of a few bytes" };
            return Err(checkpoint_error(path, format!("{what}, not a checkpoint (cut short?)")));
        }
        f.read_exact(&mut magic).map_err(|e| Error::io(path, e))?;
    }
    let fail = |e: candle_core::Error| checkpoint_error(path, e.to_string());
    if &magic == b"PK\x03\x04" {
        read_pth(path).map_err(|e| match e.to_string() {
            // The zip's directory sits at its end: a download or copy cut short has none.
            zip if zip.contains("EOCD") => {
                checkpoint_error(path, format!("a .pth cut short or damaged ({zip})"))
            }
            _ => fail(e),
        })
    } else if magic[..2] == [0x80, 0x02] || magic[..2] == [0x8a, 0x0a] {
        Err(checkpoint_error(
            path,
            "legacy (pre-zip) PyTorch file: re-save it with torch.save from PyTorch ≥ 1.6",
        ))
    } else {
        let map = candle_core::safetensors::load(path, &Device::Cpu).map_err(|e| {
            if looks_like_safetensors(path) {
                // Its header, or the tensors it lists, need more bytes than the file holds.
                match e.to_string() {
                    cut if cut.contains("incomplete metadata") || cut.contains("invalid header length") => {
                        checkpoint_error(path, format!("a .safetensors file cut short or damaged ({cut})"))
                    }
                    _ => fail(e),
                }
            } else {
                checkpoint_error(path, "neither a PyTorch checkpoint (.pth) nor a safetensors file")
            }
        })?;
        Ok(map.into_iter().collect())
    }
}

/// Whether the file's ninth byte opens a safetensors JSON header (a safetensors file starts with
/// the header's length, eight bytes, then the header).
fn looks_like_safetensors(path: &Path) -> bool {
    use std::io::Read;
    let mut start = [0u8; 9];
    std::fs::File::open(path).and_then(|mut f| f.read_exact(&mut start)).is_ok() && start[8] == b'{'
}

/// The tensors of a `torch.save` zip. The pickle says which archive entry holds each tensor and
/// how; candle's `PthTensors::get` would reopen the archive and re-read its directory for every
/// tensor (0.4 s for SlowFast's 642), so the entries are read here from one open archive
/// (0.03–0.06 s), with the same rules: contiguous or Fortran-ordered storage, after an offset.
fn read_pth(path: &Path) -> candle_core::Result<Vec<(String, Tensor)>> {
    use std::io::Read;
    // mmengine nests the weights under "state_dict"; plain `torch.save(model.state_dict())` does not.
    let infos = read_pth_tensor_info(path, false, Some("state_dict"))
        .or_else(|_| read_pth_tensor_info(path, false, None))?;
    let mut zip = zip::ZipArchive::new(std::io::BufReader::new(std::fs::File::open(path)?))
        .map_err(candle_core::Error::wrap)?;
    let mut tensors = Vec::with_capacity(infos.len());
    for info in infos {
        let layout = &info.layout;
        let fortran = layout.is_fortran_contiguous();
        if !layout.is_contiguous() && !fortran {
            candle_core::bail!("{}: cannot read a non-contiguous tensor {layout:?}", info.name);
        }
        // candle's reader gives the storage offset in bytes.
        let skip = layout.start_offset();
        let mut bytes = vec![0u8; skip + layout.shape().elem_count() * info.dtype.size_in_bytes()];
        zip.by_name(&info.path).map_err(candle_core::Error::wrap)?.read_exact(&mut bytes)?;
        let data = &bytes[skip..];
        let tensor = if fortran && layout.shape().rank() > 1 {
            // Stored with the axes reversed: read it that way and permute back.
            let reversed: Vec<usize> = layout.dims().iter().rev().copied().collect();
            let rank = reversed.len();
            Tensor::from_raw_buffer(data, info.dtype, &reversed, &Device::Cpu)?
                .permute((0..rank).rev().collect::<Vec<_>>())?
        } else {
            Tensor::from_raw_buffer(data, info.dtype, layout.dims(), &Device::Cpu)?
        };
        tensors.push((info.name, tensor));
    }
    Ok(tensors)
}

/// The checkpoint seen under a key prefix, like candle's `VarBuilder::pp`.
#[derive(Clone)]
pub struct Params<'a> {
    ckpt: &'a Checkpoint,
    prefix: String,
    device: &'a Device,
}

impl<'a> Params<'a> {
    /// The view under `prefix.name`.
    pub fn pp(&self, name: impl std::fmt::Display) -> Params<'a> {
        Params { ckpt: self.ckpt, prefix: self.key(name), device: self.device }
    }

    /// The device the model is built on.
    pub fn device(&self) -> &'a Device {
        self.device
    }

    /// Full key of `name` under this prefix.
    pub fn key(&self, name: impl std::fmt::Display) -> String {
        if self.prefix.is_empty() { name.to_string() } else { format!("{}.{name}", self.prefix) }
    }

    /// Takes the tensor `name` (on the CPU), which must have exactly `shape`.
    pub fn get(&self, name: &str, shape: &[usize]) -> Result<Tensor> {
        let key = self.key(name);
        let t = self.ckpt.tensors.get(&key).ok_or_else(|| self.misfit(format!("missing key {key}")))?;
        if t.dims() != shape {
            return Err(self.misfit(format!("{key}: expected shape {shape:?}, found {:?}", t.dims())));
        }
        self.ckpt.used.borrow_mut().insert(key);
        Ok(t.clone())
    }

    /// Shape of tensor `name`, if present.
    pub fn shape(&self, name: &str) -> Option<Vec<usize>> {
        self.ckpt.tensors.get(&self.key(name)).map(|t| t.dims().to_vec())
    }

    /// Shape of tensor `name`, which must be present with rank `rank`.
    pub fn required_shape(&self, name: &str, rank: usize) -> Result<Vec<usize>> {
        let key = self.key(name);
        let shape = self.shape(name).ok_or_else(|| self.misfit(format!("missing key {key}")))?;
        if shape.len() != rank {
            return Err(self.misfit(format!("{key}: expected {rank} dimensions, found {shape:?}")));
        }
        Ok(shape)
    }

    /// Whether tensor `name` exists.
    pub fn has(&self, name: &str) -> bool {
        self.ckpt.tensors.contains_key(&self.key(name))
    }

    /// An error about this checkpoint.
    pub fn error(&self, cause: impl Into<String>) -> Error {
        self.ckpt.error(cause)
    }

    /// An error about a tensor the architecture needs and this checkpoint lacks or shapes
    /// otherwise: most often weights of another model than the card's.
    pub fn misfit(&self, cause: impl std::fmt::Display) -> Error {
        self.ckpt.error(format!("{cause} (weights of another architecture than the model card's?)"))
    }

    /// Number of consecutive children `0, 1, …` that have tensor `leaf` (e.g. blocks of a stage).
    pub fn count(&self, leaf: &str) -> usize {
        (0..).take_while(|i| self.has(&format!("{i}.{leaf}"))).count()
    }
}
