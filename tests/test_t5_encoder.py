"""The T5 caption encoder: a tiny T5 saved with save_pretrained, read back offline, with
LlamaGen's left padding checked against unpadded encodings."""
import pytest
import torch
import transformers

from argrpo.registry import TOKENIZERS
from argrpo.tokenizers import left_pad


def test_left_pad_moves_valid_tokens_to_the_end():
    features = torch.arange(2 * 4, dtype=torch.float32).view(2, 4, 1) + 1
    mask = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1]])
    padded, new_mask = left_pad(features, mask)
    assert padded[0, :, 0].tolist() == [0, 0, 1, 2] and new_mask[0].tolist() == [0, 0, 1, 1]
    assert torch.equal(padded[1], features[1]) and new_mask[1].tolist() == [1, 1, 1, 1]


@pytest.fixture
def t5_dir(tmp_path):
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    words = ['<pad>', '</s>', '<unk>', 'a', 'red', 'circle', 'above', 'blue', 'square', 'small']
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token='<unk>'))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(single='$A </s>', special_tokens=[('</s>', 1)])
    transformers.PreTrainedTokenizerFast(tokenizer_object=tok, pad_token='<pad>', eos_token='</s>',
                                         unk_token='<unk>').save_pretrained(tmp_path)
    config = transformers.T5Config(vocab_size=len(words), d_model=16, d_kv=8, d_ff=32, num_layers=2,
                                   num_heads=2, decoder_start_token_id=0)
    torch.manual_seed(0)
    transformers.T5EncoderModel(config).save_pretrained(tmp_path)
    return str(tmp_path)


def test_t5_encoder_reads_a_local_directory_and_left_pads(t5_dir, tmp_path):
    with pytest.raises(FileNotFoundError, match='flan-t5-xl'):
        TOKENIZERS.build(dict(type='T5TextEncoder', path=str(tmp_path / 'absent')))
    encoder = TOKENIZERS.build(dict(type='T5TextEncoder', path=t5_dir, max_length=8))
    captions = ['a red circle', 'a small blue square above a red circle']
    features, mask = encoder(captions)
    assert features.shape == (2, 8, 16) and mask.tolist()[0] == [0, 0, 0, 0, 1, 1, 1, 1]
    assert mask[1].all()  # 8 words + </s> truncated to 8
    reference = transformers.T5EncoderModel.from_pretrained(t5_dir).eval()
    ids = encoder.tokenizer(captions[0], return_tensors='pt').input_ids  # 3 words + </s>, no padding
    with torch.no_grad():
        alone = reference(input_ids=ids).last_hidden_state[0]
    torch.testing.assert_close(features[0, 4:], alone, atol=1e-5, rtol=1e-5)
    assert features[0, :4].abs().sum() == 0
